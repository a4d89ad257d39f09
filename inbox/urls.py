from django.urls import path

from . import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/faces/<uuid:pk>.jpg", views.face_crop, name="inbox-face"),
    path("inbox/merge/", views.merge_clusters, name="inbox-merge"),
    path("inbox/recognitions/", views.recognitions, name="inbox-recognitions"),
    path("inbox/recognitions/<int:pk>.jpg", views.recognition_crop, name="inbox-recognition-face"),
    path("inbox/recognitions/<uuid:match_id>/<int:face>/feedback/", views.recognition_feedback, name="inbox-feedback"),
    path("inbox/<uuid:pk>/name/", views.name_cluster, name="inbox-name"),
    path("inbox/<uuid:pk>/assign/", views.assign_cluster, name="inbox-assign"),
    path("inbox/<uuid:pk>/split/", views.split_cluster, name="inbox-split"),
    path("inbox/<uuid:pk>/dismiss/", views.dismiss_cluster, name="inbox-dismiss"),
]
