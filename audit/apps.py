from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self):
        from . import log  # noqa: F401  (records API keys created and revoked, logins, whatever makes them)
