import uuid

from django.db import models


class JobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(state__in=Job.ACTIVE)

    def naming(self, person_id):
        """Jobs whose options or result name the person (by id: what they were for, who they
        enrolled, who a refused face looked like): erased with them, listed in their export."""
        return self.filter(models.Q(options__icontains=str(person_id)) | models.Q(result__icontains=str(person_id)))


class Job(models.Model):
    """Long work done by the task worker (`manage.py db_worker`, records/jobs.py), not in a request:
    re-embedding every photo, or a large import from the pages. The django-tasks result it runs as
    is `task_id`; a job resumed after its worker died runs as a new task, so that id changes.

    At most one re-embed per model key is queued or running: the database refuses a second (the
    conditional unique constraint), so two requests at the same moment cannot both start one.
    """

    class Kind(models.TextChoices):
        REEMBED = "reembed", "re-embed every photo and rebuild the index"
        IMPORT = "import", "enrol photos uploaded on the pages"

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    ACTIVE = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    model_key = models.CharField(max_length=100, help_text="The model the photos are embedded with.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED, db_index=True)
    done = models.PositiveIntegerField(default=0, help_text="Photos done so far, refused or skipped ones included.")
    total = models.PositiveIntegerField(default=0, help_text="Photos to do, counted when the job was asked for.")
    options = models.JSONField(default=dict, blank=True, help_text="What was asked (an import's name, photos, ...).")
    # The last photo done (re-embed: photos go in id order; import: its position): where a job
    # resumed after its worker died starts again. Each photo is idempotent, so one done twice is harmless.
    resume_after = models.CharField(max_length=100, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.JSONField(default=dict, help_text="The audit log's actor of the request.")
    task_id = models.CharField(max_length=64, blank=True, help_text="The django-tasks result running it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it (resumes included).")
    worker = models.CharField(max_length=200, blank=True, help_text="host/pid/start time of the process running it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the worker last wrote its progress.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_key"],
                condition=models.Q(kind="reembed", state__in=["queued", "running"]),
                name="one_active_reembed_per_model_key",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def requester(self) -> str:
        return self.requested_by.get("actor") or self.requested_by.get("actor_type", "")
