import io

import qrcode
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Enrol a TOTP device (an authenticator app) for a staff user, for the admin's second factor "
        "(STAFF_TOTP_REQUIRED). First run: prints the otpauth:// URL to add to the app. Then run again "
        "with --confirm and the app's current code: only a confirmed device lets the user into the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--confirm", metavar="CODE", help="the 6-digit code the app shows now")

    def handle(self, username, confirm=None, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.")
        if confirm is None:
            self._new_device(user)
        else:
            self._confirm(user, confirm)

    def _new_device(self, user):
        # A fresh secret each time: one printed earlier may have been seen by someone else.
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
        if not user.is_staff:
            self.stderr.write(f"Note: {user.get_username()} is not staff; the code is asked for by the admin only.")
        self.stdout.write(
            "Scan this with the authenticator app, or add the URL below by hand, then run this command "
            "again with --confirm CODE:"
        )
        self.stdout.write(_terminal_qr(device.config_url))
        self.stdout.write(device.config_url)

    def _confirm(self, user, code: str):
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None:
            raise CommandError(f"{user.get_username()} has no device waiting to be confirmed: run without --confirm first.")
        if not device.verify_token(code.strip()):
            raise CommandError("That code is not the device's current one: check the app and the clock, and try again.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        self.stdout.write(f"Confirmed: {user.get_username()} now gives this app's code at the admin's login.")


def _terminal_qr(text: str) -> str:
    code = qrcode.QRCode(border=2)
    code.add_data(text)
    drawn = io.StringIO()
    code.print_ascii(out=drawn)
    return drawn.getvalue()
