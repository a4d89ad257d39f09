from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # record.deleted and the erasure of names, whatever deletes; purge_expired; webhooks audited
        from . import audit_receivers, retention, signals  # noqa: F401
