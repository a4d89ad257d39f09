"""The outbox: an `Event` is written in the transaction of what caused it, with one `Delivery` per
receiver that wants it (a webhook, or the MQTT broker), each run by the task worker until it gets
through (events/delivery.py). A rolled-back cause leaves neither; a worker killed mid-delivery
leaves the delivery pending, and the next worker sends it again (at least once)."""

import uuid

from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    FACE_RECOGNIZED = "face.recognized", "a face was recognised"
    FACE_UNKNOWN = "face.unknown", "a face matched nobody"
    RECORD_CREATED = "record.created", "a person was enrolled"
    RECORD_UPDATED = "record.updated", "a person was renamed, moved or given a photo"
    RECORD_DELETED = "record.deleted", "a person was erased"
    JOB_FINISHED = "job.finished", "a background job ended"
    INBOX_FACE_KEPT = "inbox.face_kept", "a face a match left unnamed was kept for review"
    INBOX_REVIEWED = "inbox.reviewed", "a suggested person was named, added to someone or dismissed"


class Event(models.Model):
    """What happened, as sent: `payload()` is the body of every delivery. `data` names people by
    id and, until the event is delivered or the person erased, by name (events/outbox.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    collection = models.CharField(max_length=64, blank=True, help_text="Empty: several collections, or none.")
    person_id = models.UUIDField(null=True, blank=True, db_index=True, help_text="Whom it is about, for erasure.")
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.type} {self.pk}"

    def payload(self) -> dict:
        """Standard Webhooks' recommended shape: type, timestamp, data."""
        return {"type": self.type, "timestamp": self.created_at.isoformat(), "data": self.data}


class Webhook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event types sent to it.")
    collection = models.CharField(max_length=64, blank=True, help_text="Only events of this collection; empty: all.")
    # The signing key (`whsec_` + base64), shown once when the webhook is made: it must be kept to
    # sign, so it is stored as is, like any server-side HMAC key.
    secret = models.CharField(max_length=100, editable=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failure since the last success.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return self.url

    def wants(self, event_type: str, collection: str) -> bool:
        return self.enabled and event_type in self.events and (not self.collection or self.collection == collection)


class Delivery(models.Model):
    """One event to one receiver: a webhook, or the MQTT broker (`webhook` empty)."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "given up"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The django-tasks result that will (or does) send it, and the worker sending it right now
    # (jobs.worker.this_worker()): a worker found gone leaves it to be sent again.
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.event} to {self.webhook or 'MQTT'}"

    @property
    def receiver(self) -> str:
        return self.webhook.url if self.webhook_id else "MQTT"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's HTTP status.")
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
