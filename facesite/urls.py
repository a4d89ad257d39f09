from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # REST API (records/api/urls.py): /records, /maintenance, /health, /docs, schema.
    path("", include("records.api.urls")),
    # Server-rendered pages (records/urls.py): /, /enrol/, /match/, /people/, login.
    path("", include("records.urls")),
]
