"""REST API routes, included at the site root by facesite/urls.py (paths of docs/api.md)."""

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from .views import CollectionViewSet, HealthView, JobView, RebuildIndexView, RecordViewSet, VerifyView

app_name = "api"

# The original contract has no trailing slashes: /records, /records/match, /records/{id}.
router = SimpleRouter(trailing_slash=False)
router.register("records", RecordViewSet, basename="record")
router.register("collections", CollectionViewSet, basename="collection")

urlpatterns = [
    *router.urls,
    path("verify", VerifyView.as_view(), name="verify"),
    path("maintenance/rebuild-index", RebuildIndexView.as_view(), name="rebuild-index"),
    path("maintenance/jobs/<str:id>", JobView.as_view(), name="job"),
    path("health", HealthView.as_view(), name="health"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="records/api/redoc.html"),
        name="redoc",
    ),
]
