from django.urls import path

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("enrol/", views.EnrolView.as_view(), name="enrol"),
    path("match/", views.MatchView.as_view(), name="match"),
    path("match/candidates/", views.MatchCandidatesView.as_view(), name="match-candidates"),
    path("people/", views.PersonListView.as_view(), name="people"),
    path("people/<uuid:pk>/", views.person_detail, name="person"),
    path("people/<uuid:pk>/export/", views.export, name="person-export"),
    path("people/<uuid:pk>/change/", views.change_person, name="person-change"),
    path("people/<uuid:pk>/verify/", views.verify_person, name="person-verify"),
    path("people/<uuid:pk>/delete/", views.PersonDeleteView.as_view(), name="person-delete"),
    path("people/<uuid:pk>/photos/<uuid:image_pk>/remove/", views.remove_photo, name="photo-remove"),
    path("jobs/<uuid:pk>/", views.job, name="job"),
    path("photos/<uuid:pk>/", views.photo, name="photo"),
    path("photos/<uuid:pk>/face.jpg", views.face_thumbnail, name="face-thumbnail"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
]
