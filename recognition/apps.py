from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    verbose_name = "Face recognition"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers the model weights check and the index signals)
