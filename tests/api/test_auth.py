"""API keys: every endpoint but /health and the docs needs one; keys are hashed, scoped, revocable,
may expire and may be limited to networks; `create_api_key` makes them. (Every endpoint x every
scope over HTTP: tests/api/test_scopes.py.)"""

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import ScopedAPIKey
from access.scopes import ALL, SCOPES
from audit.models import AuditEvent
from records.models import Collection

pytestmark = pytest.mark.django_db

PROTECTED = [
    ("get", "/records"),
    ("post", "/records"),
    ("post", "/records/match"),
    ("get", "/records/{id}"),
    ("patch", "/records/{id}"),
    ("delete", "/records/{id}"),
    ("post", "/records/{id}/images"),
    ("get", "/records/{id}/images/{image_id}"),
    ("delete", "/records/{id}/images/{image_id}"),
    ("post", "/maintenance/rebuild-index"),
]


def create_api_key(name: str, *options: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("create_api_key", name, *options, stdout=out)
    return out.getvalue(), out.getvalue().splitlines()[-1]


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize(
    "headers, detail",
    [
        ({}, "an api key is required"),
        ({"HTTP_AUTHORIZATION": "Api-Key not.a-key"}, "not valid"),
        ({"HTTP_X_API_KEY": "wrong"}, "not valid"),
        ({"HTTP_AUTHORIZATION": "Bearer some-token"}, "an api key is required"),
    ],
    ids=["no key", "wrong key", "wrong X-API-Key", "other scheme"],
)
def test_every_endpoint_but_health_and_docs_needs_a_valid_key(bush, unchanged, method, path, headers, detail):
    url = path.format(id=bush.pk, image_id=bush.images.get().pk)

    with unchanged():
        response = getattr(APIClient(), method)(url, **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert detail in response.json()["detail"].lower()


@pytest.mark.parametrize("path", ["/health", "/docs", "/redoc", "/openapi.json"])
def test_health_and_docs_need_no_key_and_ignore_a_wrong_one(path):
    assert APIClient().get(path).status_code == 200
    assert APIClient().get(path, HTTP_AUTHORIZATION="Api-Key wrong").status_code == 200


def test_create_api_key_prints_a_working_key_alone_on_the_last_line(bush):
    output, key = create_api_key("door camera", "--scopes", "read")

    assert key not in output.splitlines()[0]
    stored = ScopedAPIKey.objects.get(name="door camera")
    assert stored.scopes == ["read"] and stored.allowed_networks == [] and stored.expiry_date is None
    assert key.startswith(stored.prefix + ".")
    assert key not in (stored.id, stored.hashed_key)  # only the hash is stored
    for headers in ({"HTTP_AUTHORIZATION": f"Api-Key {key}"}, {"HTTP_X_API_KEY": key}):
        assert APIClient().get("/records", **headers).status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 51])
def test_create_api_key_refuses_a_bad_name(name):
    with pytest.raises(CommandError, match="1 to 50 characters"):
        create_api_key(name, "--scopes", "all")
    assert not ScopedAPIKey.objects.exists()


def test_create_api_key_refuses_without_scopes_and_lists_them(tmp_path):
    """Least privilege by default: no key that can do everything by omission. Run as an operator
    would, in a process of its own, for the exit status."""
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "door-1"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
    )

    assert done.returncode != 0
    assert "--scopes" in done.stderr
    for scope in [*SCOPES, ALL]:
        assert f"  {scope} " in done.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        (["--scopes", "match,delete"], "Not a scope: delete."),
        (["--scopes", " , "], "No scope given."),
        (["--scopes", "match", "--allow-from", "10.1.2.5/24"], "did you mean 10.1.2.0/24 or 10.1.2.5/32?"),
        (["--scopes", "match", "--allow-from", "door"], "'door' is not an address or a network"),
        (["--scopes", "match", "--expires-in-days", "0"], "--expires-in-days must be 1 or more."),
        (["--scopes", "match", "--collections", "default,site-z"], "--collections: no collection named site-z"),
    ],
)
def test_create_api_key_refuses_a_bad_scope_network_or_expiry(options, message):
    with pytest.raises(CommandError) as refused:
        create_api_key("door-1", *options)

    assert message in str(refused.value)
    assert not ScopedAPIKey.objects.exists() and not AuditEvent.objects.exists()


def test_create_api_key_with_every_option():
    output, key = create_api_key(
        "door-1", "--scopes", "match, read", "--expires-in-days", "30", "--allow-from", "10.1.2.0/24,192.0.2.7"
    )

    stored = ScopedAPIKey.objects.get_from_key(key)
    assert (stored.name, stored.scopes) == ("door-1", ["match", "read"])
    assert stored.allowed_networks == ["10.1.2.0/24", "192.0.2.7/32"]
    assert timedelta(days=29, hours=23) < stored.expiry_date - timezone.now() <= timedelta(days=30)
    assert "scopes match, read; from 10.1.2.0/24, 192.0.2.7/32 only; expires " in output
    [created] = AuditEvent.objects.filter(action="create_key")
    assert (created.target, created.detail["scopes"], created.detail["allowed_networks"]) == (
        stored.prefix, ["match", "read"], ["10.1.2.0/24", "192.0.2.7/32"]
    )


def test_create_api_key_limited_to_collections():
    Collection.objects.create(name="site-a")

    output, key = create_api_key("site-a-door", "--scopes", "match", "--collections", "site-a, default")

    stored = ScopedAPIKey.objects.get_from_key(key)
    ids = [Collection.objects.get(name=name).pk for name in ("site-a", "default")]
    assert stored.collections == ids  # by id: a name deleted and made again is another collection
    assert "; collections site-a, default only" in output
    assert AuditEvent.objects.get(action="create_key").detail["collections"] == ids
    assert ScopedAPIKey.objects.get_from_key(create_api_key("anywhere", "--scopes", "match")[1]).collections == []


def test_all_stands_for_every_scope_including_later_ones():
    _, key = create_api_key("client", "--scopes", "read,all")

    stored = ScopedAPIKey.objects.get_from_key(key)
    assert stored.scopes == [ALL]
    assert all(stored.has_scope(scope) for scope in [*SCOPES, "a-scope-added-later"])


def test_a_revoked_key_is_refused():
    _, key = create_api_key("laptop", "--scopes", "all")
    api_key = ScopedAPIKey.objects.get(name="laptop")
    api_key.revoked = True
    api_key.save()

    response = APIClient().get("/records", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_an_expired_key_is_refused():
    _, key = create_api_key("temp", "--scopes", "all", "--expires-in-days", "1")
    ScopedAPIKey.objects.filter(name="temp").update(expiry_date=timezone.now() - timedelta(minutes=1))

    response = APIClient().get("/records", HTTP_X_API_KEY=key)

    assert response.status_code == 401
    assert response.json() == {"detail": "The API key has expired."}
