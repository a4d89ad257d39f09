from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class FaceAdminSite(OTPAdminSite):
    """The admin. With STAFF_TOTP_REQUIRED on it is django-otp's OTPAdminSite: its login asks for
    the code of the user's confirmed TOTP device, and staff who did not give one are treated as
    not staff. Off, it is Django's. Read on every request, so the setting needs no other change."""

    def __init__(self, name="admin"):
        super().__init__(name)

    @property
    def login_form(self):
        return OTPAdminAuthenticationForm if settings.STAFF_TOTP_REQUIRED else AdminAuthenticationForm

    @property
    def login_template(self):
        return OTPAdminSite.login_template if settings.STAFF_TOTP_REQUIRED else None

    def has_permission(self, request):
        if settings.STAFF_TOTP_REQUIRED:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)

