from django.contrib.admin.apps import AdminConfig


class FaceAdminConfig(AdminConfig):
    """django.contrib.admin, whose `admin.site` is ours (facesite.admin.FaceAdminSite)."""

    default_site = "facesite.admin.FaceAdminSite"
