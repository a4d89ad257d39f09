from django.apps import AppConfig


class StreamsConfig(AppConfig):
    """Video streams watched by the stream runner (`manage.py run_streams`): cameras and files read
    with OpenCV's FFmpeg, each face tracked across frames and reported once per appearance."""

    name = "streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import audit_receivers  # noqa: F401  (a stream made or deleted is audited, whatever does it)
