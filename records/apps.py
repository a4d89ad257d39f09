from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "People and face images"

    def ready(self):
        from . import signals  # noqa: F401  (connects the models to the recognition service)
        from . import audit_receivers  # noqa: F401  (records deletions and changes, whatever makes them)
