from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "People and face images"

    def ready(self):
        from . import signals  # noqa: F401  (connects the models to the recognition service)
        from . import audit  # noqa: F401  (records deletions and new API keys, whatever makes them)
