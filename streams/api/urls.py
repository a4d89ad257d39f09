from rest_framework.routers import SimpleRouter

from .views import StreamViewSet

app_name = "streams"

# No trailing slashes, as the rest of the API.
router = SimpleRouter(trailing_slash=False)
router.register("streams", StreamViewSet, basename="stream")
urlpatterns = router.urls
