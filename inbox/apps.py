from django.apps import AppConfig


class InboxConfig(AppConfig):
    """The review inbox: faces matches left unnamed, kept where a collection asks for it, grouped
    into suggested people to name, assign, split, merge or dismiss."""

    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers  # noqa: F401 (connects them)
