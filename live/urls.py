from django.urls import path

from . import views

urlpatterns = [
    path("live/", views.live, name="live"),
    path("live/frame", views.frame, name="live-frame"),
]
