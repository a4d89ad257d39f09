from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from access.middleware import anonymous_throttled


def favicon(request):
    """Browsers ask for /favicon.ico on every page that names no icon (the admin's, the API docs'):
    the site's icon, not a 404 in every log."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon),
    # Anyone may post to the login forms: besides django-axes' lockout after failed passwords, each
    # client address gets the API's anonymous allowance (ANON_THROTTLE_RATE) on them.
    path("admin/login/", anonymous_throttled(admin.site.login)),
    path("accounts/login/", anonymous_throttled(auth_views.LoginView.as_view()), name="login"),
    path("admin/", admin.site.urls),
    # REST API (records/api/urls.py): /records, /maintenance, /health, /docs, schema.
    path("", include("records.api.urls")),
    # Webhooks (events/api/urls.py): /webhooks.
    path("", include("events.api.urls")),
    # Video streams (streams/api/urls.py): /streams.
    path("", include("streams.api.urls")),
    # The review inbox's API (inbox/api/urls.py): /unknown-faces/...
    path("", include("inbox.api.urls")),
    # Server-rendered pages (records/urls.py): /, /enrol/, /match/, /people/, login.
    path("", include("records.urls")),
    # The Inbox page (inbox/urls.py): /inbox/
    path("", include("inbox.urls")),
    # The live camera page (live/urls.py): /live/
    path("", include("live.urls")),
]

handler500 = "facesite.errors.server_error"
