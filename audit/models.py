from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Who did what to the biometric data, when, and how it ended (audit/log.py writes them).

    It names people and photos by id only, so erasing a person leaves nothing of them here; a probe
    photo is kept only with AUDIT_KEEP_PROBES, its SHA-256 always.
    """

    class Action(models.TextChoices):
        ENROL = "enrol", "enrol a person"
        ADD_PHOTO = "add_photo", "add a photo"
        MATCH = "match", "match a photo"
        VERIFY = "verify", "verify a photo against a person or a photo"
        DELETE_PERSON = "delete_person", "delete a person"
        DELETE_PHOTO = "delete_photo", "delete a photo"
        CREATE_KEY = "create_key", "create an API key"
        REBUILD = "rebuild", "rebuild the index"
        REPAIR = "repair", "repair (check_integrity)"
        IMPORT = "import", "import photos"
        REVOKE_KEY = "revoke_key", "revoke an API key"
        LIST = "list", "list people"
        READ = "read", "read a person"
        READ_PHOTO = "read_photo", "download a photo or thumbnail"
        EXPORT = "export", "export a person's data"
        UPDATE_PERSON = "update_person", "change a person"
        BULK_READ = "bulk_read", "many people or photos read in a minute"
        PURGE = "purge", "purge expired audit events and probes"
        LOGIN = "login", "log in"
        LOGIN_FAILED = "login_failed", "failed login"
        LOCKOUT = "lockout", "login refused: locked out"
        CREATE_COLLECTION = "create_collection", "create a collection"
        DELETE_COLLECTION = "delete_collection", "delete a collection"
        START_JOB = "start_job", "start a background job (re-embed, import)"
        UPDATE_COLLECTION = "update_collection", "change a collection"
        KEEP_UNKNOWN = "keep_unknown", "keep a face a match left unnamed"
        READ_UNKNOWN = "read_unknown", "view unknown faces"
        ERASE_UNKNOWN = "erase_unknown", "erase unknown faces"
        REVIEW_UNKNOWN = "review_unknown", "name, assign, split or merge unknown faces"
        FEEDBACK = "feedback", "confirm or correct a recognition"
        READ_MATCHED = "read_matched", "view recognitions kept for feedback"
        CREATE_WEBHOOK = "create_webhook", "create a webhook"
        DELETE_WEBHOOK = "delete_webhook", "delete a webhook"
        CREATE_STREAM = "create_stream", "watch a video stream"
        DELETE_STREAM = "delete_stream", "stop watching a video stream"

    class ActorType(models.TextChoices):
        API_KEY = "api_key", "API key"
        USER = "user", "user"
        COMMAND = "command", "command"
        ANONYMOUS = "anonymous", "anonymous"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="API key name (prefix), username or command")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    target = models.CharField(max_length=100, blank=True, db_index=True, help_text="id of the person, photo or key")
    status = models.PositiveSmallIntegerField(help_text="HTTP-style: 200/201 done, 4xx refused")
    detail = models.JSONField(default=dict, blank=True)
    probe_sha256 = models.CharField(max_length=64, blank=True)
    probe = models.FileField(upload_to="audit/probes/%Y/%m/", max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or self.actor_type} {self.action} {self.target} → {self.status}"
