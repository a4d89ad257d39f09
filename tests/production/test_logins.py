"""Login protection: lockouts after repeated failures (django-axes) shared by every gunicorn worker,
the audit of logins, failures and lockouts, the admin's TOTP second factor, the password length
and the idle session expiry."""

import re
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.conftest import PASSWORD

TIMEOUT = 60
COOLOFF_SECONDS = 8


def events(action: str, target: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target=target).order_by("at"))


class Browser:
    """A browser's session with one gunicorn server; each request carries an id that the server's
    access log names with the worker that answered it."""

    def __init__(self, server):
        self.server, self.session = server, requests.Session()
        self.request_ids: list[str] = []
        self.session.get(f"{server.base_url}/accounts/login/", timeout=TIMEOUT)

    def log_in(self, username: str, password: str, path: str = "/accounts/login/") -> requests.Response:
        request_id = f"login-{len(self.request_ids)}-{time.monotonic_ns()}"
        self.request_ids.append(request_id)
        return self.session.post(
            self.server.base_url + path,
            {"username": username, "password": password, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]},
            headers={"X-Request-Id": request_id}, allow_redirects=False, timeout=TIMEOUT,
        )


def locked(response: requests.Response) -> bool:
    return response.status_code == 429 and "Too many failed logins" in response.text


def test_six_wrong_passwords_lock_the_account_on_every_worker_until_the_cool_off(gunicorn, member):
    server = gunicorn(2, LOGIN_COOLOFF_SECONDS=COOLOFF_SECONDS)
    member(None, "victim")
    member(None, "bystander")
    browser = Browser(server)

    # Four failures two at a time, so that both workers take some: each counts the other's.
    answers = []
    for _ in range(2):
        pair = [threading.Thread(target=lambda: answers.append(browser.log_in("victim", "wrong password"))) for _ in "ab"]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
    fifth, sixth = browser.log_in("victim", "wrong password"), browser.log_in("victim", "wrong again")
    right = browser.log_in("victim", PASSWORD)
    # The client's address is locked too, separately: another account from it is refused as well.
    other_account = Browser(server).log_in("bystander", PASSWORD)

    assert [answer.status_code for answer in answers] == [200] * 4  # the form again, with its error
    assert all("Please enter a correct username and password" in answer.text for answer in answers)
    assert locked(fifth) and locked(sixth)
    assert locked(right) and "sessionid" not in browser.session.cookies
    assert locked(other_account)
    workers = set(server.served_by(browser.request_ids).values())
    assert len(workers) == 2, workers

    failed, lockouts = events("login_failed", "victim"), events("lockout", "victim")
    assert len(failed) == 7  # six wrong passwords, and the right one refused
    assert {(event.status, event.actor_type, event.remote_addr) for event in failed} == {(401, "anonymous", "127.0.0.1")}
    assert len(lockouts) == 3 and {event.status for event in lockouts} == {429}
    assert events("login", "victim") == []

    time.sleep(COOLOFF_SECONDS + 1)
    after = browser.log_in("victim", PASSWORD)

    assert (after.status_code, after.headers["Location"]) == (302, "/")
    assert browser.session.get(f"{server.base_url}/", timeout=TIMEOUT).status_code == 200
    [login] = events("login", "victim")
    assert (login.actor_type, login.actor, login.status) == ("user", "victim", 200)


@pytest.mark.django_db
def test_the_admin_login_locks_too_and_says_so(client, member):
    member(None, "staffer", is_staff=True)
    for _ in range(5):
        client.post("/admin/login/", {"username": "staffer", "password": "wrong password"})

    refused = client.post("/admin/login/", {"username": "staffer", "password": PASSWORD})

    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many failed logins" in text and "staffer" in text and "15 minutes" in text
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_login_is_audited_with_the_user_and_address(client, member):
    member("Viewers", "viewer")

    response = client.post("/accounts/login/", {"username": "viewer", "password": PASSWORD})

    assert response.status_code == 302
    [login] = events("login", "viewer")
    assert (login.actor_type, login.actor, login.remote_addr, login.detail) == (
        "user", "viewer", "127.0.0.1", {"path": "/accounts/login/"}
    )


# --- TOTP for staff ---------------------------------------------------------------------------


@pytest.fixture
def totp_required(settings):
    settings.STAFF_TOTP_REQUIRED = True


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def not_the_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 10**device.digits:0{device.digits}d}"


@pytest.mark.django_db
def test_with_totp_required_staff_without_a_device_are_refused_by_the_admin(client, member, totp_required):
    staff = member(None, "staffer", is_staff=True, is_superuser=True)

    by_password = client.post("/admin/login/", {"username": "staffer", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    client.force_login(staff)  # logged in through the pages' login: no second factor given
    admin = client.get("/admin/")

    assert by_password.status_code == 200  # the form again: the code is required
    assert 'name="otp_token"' in by_password.content.decode()
    assert (admin.status_code, admin["Location"]) == (302, "/admin/login/?next=/admin/")


@pytest.mark.django_db
def test_with_totp_required_staff_get_in_with_the_code_of_a_confirmed_device(client, member, totp_required):
    staff = member(None, "staffer", is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
    other_browser = Client()

    # The admin's login form: password, then the device (chosen from the user's own) and its code.
    form = {"username": "staffer", "password": PASSWORD, "otp_device": device.persistent_id}
    right = client.post("/admin/login/", {**form, "otp_token": current_code(device)})
    wrong = other_browser.post("/admin/login/", {**form, "otp_token": not_the_code(device)})

    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert wrong.status_code == 200  # the form again
    assert other_browser.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_without_totp_required_the_admin_asks_for_the_password_only(client, member, settings):
    settings.STAFF_TOTP_REQUIRED = False
    member(None, "staffer", is_staff=True, is_superuser=True)

    response = client.post("/admin/login/", {"username": "staffer", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_device_is_enrolled_by_command_and_confirmed_with_its_code(member, capsys):
    staff = member(None, "staffer", is_staff=True)

    call_command("totp_device", "staffer")
    url = re.search(r"otpauth://\S+", capsys.readouterr().out).group(0)
    first = TOTPDevice.objects.get(user=staff)
    assert parse_qs(urlparse(url).query)["secret"] and not first.confirmed
    with pytest.raises(CommandError, match="not the device's current one"):
        call_command("totp_device", "staffer", confirm=not_the_code(first))
    # Asked again: a new secret replaces the unconfirmed one.
    call_command("totp_device", "staffer")
    device = TOTPDevice.objects.get(user=staff)
    assert device.pk != first.pk
    call_command("totp_device", "staffer", confirm=current_code(device))

    device.refresh_from_db()
    assert device.confirmed
    with pytest.raises(CommandError, match="No user named"):
        call_command("totp_device", "nobody")


# --- Passwords and sessions -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_password_shorter_than_12_characters_is_refused(admin_client):
    with pytest.raises(ValidationError, match="at least 12 characters"):
        validate_password("k7#Vq9!zT2w")  # 11
    validate_password("k7#Vq9!zT2wX")  # 12

    response = admin_client.post(
        "/admin/auth/user/add/", {"username": "newcomer", "password1": "k7#Vq9!zT2w", "password2": "k7#Vq9!zT2w",
                                  "usable_password": "true"}
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()


@pytest.mark.django_db
def test_a_session_expires_after_the_idle_time_and_each_request_moves_it_on(client, member, settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    client.force_login(member("Viewers"))
    session = Session.objects.get()
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(minutes=1))

    assert client.get("/people/").status_code == 200

    expiry = Session.objects.get(pk=session.pk).expire_date
    assert abs((expiry - timezone.now()) - timedelta(hours=8)) < timedelta(minutes=1)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/people/").status_code == 302  # idle too long: log in again


@pytest.mark.django_db
def test_with_totp_required_staff_reach_the_pages_only_with_the_code(client, member, totp_required):
    """Logged in on the pages with a password alone, staff are sent to the admin's login for the
    code, and come back once they gave it; a user who is not staff is not asked."""
    staff = member("Managers", "staffer", is_staff=True)
    device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
    client.force_login(staff)  # the pages' login: a password, no code

    by_password = client.get("/people/")
    form = {"username": "staffer", "password": PASSWORD, "otp_device": device.persistent_id}
    coded = client.post("/admin/login/?next=/people/", {**form, "otp_token": current_code(device), "next": "/people/"})
    viewer = Client()
    viewer.force_login(member("Viewers", "vera"))

    assert (by_password.status_code, by_password["Location"]) == (302, "/admin/login/?next=/people/")
    assert (coded.status_code, coded["Location"]) == (302, "/people/")
    assert client.get("/people/").status_code == 200
    assert viewer.get("/people/").status_code == 200
