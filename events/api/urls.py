from rest_framework.routers import SimpleRouter

from .views import WebhookViewSet

app_name = "events"

# No trailing slashes, as the rest of the API.
router = SimpleRouter(trailing_slash=False)
router.register("webhooks", WebhookViewSet, basename="webhook")
urlpatterns = router.urls
