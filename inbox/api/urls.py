"""The review inbox's API routes, included at the site root by facesite/urls.py."""

from django.urls import path

from . import views

app_name = "inbox-api"

urlpatterns = [
    path("unknown-faces/clusters", views.ClustersView.as_view(), name="clusters"),
    path("unknown-faces/clusters/merge", views.MergeClustersView.as_view(), name="merge"),
    path("unknown-faces/clusters/<str:id>", views.ClusterView.as_view(), name="cluster"),
    path("unknown-faces/clusters/<str:id>/enrol", views.NameClusterView.as_view(), name="enrol"),
    path("unknown-faces/clusters/<str:id>/assign", views.AssignClusterView.as_view(), name="assign"),
    path("unknown-faces/clusters/<str:id>/split", views.SplitClusterView.as_view(), name="split"),
    path("unknown-faces/<str:id>/image", views.FaceImageView.as_view(), name="image"),
    path("unknown-faces/<str:id>", views.FaceView.as_view(), name="face"),
    path("matches/<str:match_id>/feedback", views.FeedbackView.as_view(), name="feedback"),
]
