from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    verbose_name = "Face recognition"

    def ready(self):
        from . import checks  # noqa: F401  (registers the model weights check)
