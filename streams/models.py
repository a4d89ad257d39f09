import uuid
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.db import models
from django.utils import timezone

from records.models import Collection


class StreamQuerySet(models.QuerySet):
    def visible_to(self, key):
        """The streams of the collections this API key may see."""
        return self.filter(collection__in=Collection.objects.visible_to(key)) if key.collections else self

    def free(self, now=None):
        """Streams to watch that no runner holds: never claimed, or whose runner's lease ran out
        (it died, or lost the database). A file read to its end is not watched again."""
        now = now or timezone.now()
        return self.filter(ended_at__isnull=True).filter(models.Q(runner="") | models.Q(lease_expires_at__lt=now))


class Stream(models.Model):
    """A camera or a video file the stream runner watches (streams/runner.py), and how it goes:
    the counts and the last error are the runner's, written every few seconds."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True, help_text="Named as the events' source.")
    # Kept as given, credentials included (the runner must log in to the camera); shown without
    # the password (`shown_url`).
    url = models.CharField(max_length=2000)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="streams")
    fps = models.FloatField(help_text="Frames analysed per second.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True)

    # The runner holding it (jobs.worker.this_worker(): host/pid/start), until its lease runs out;
    # renewed every few seconds while it runs.
    runner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="A file read to its end.")

    started_at = models.DateTimeField(null=True, blank=True, help_text="When its runner last took it.")
    connected = models.BooleanField(default=False)
    frames = models.PositiveBigIntegerField(default=0, help_text="Frames analysed.")
    fps_achieved = models.FloatField(default=0, help_text="Frames analysed per second, lately.")
    faces = models.PositiveBigIntegerField(default=0, help_text="Appearances of a face (tracks reported).")
    events = models.PositiveBigIntegerField(default=0, help_text="face.recognized and face.unknown events emitted.")
    reconnects = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)

    objects = StreamQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.name

    @property
    def running(self) -> bool:
        return bool(self.runner) and self.lease_expires_at is not None and self.lease_expires_at > timezone.now()

    @property
    def shown_url(self) -> str:
        """The URL without its password."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def lease_until(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)
