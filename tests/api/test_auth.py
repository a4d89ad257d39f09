"""API keys: every endpoint but /health and the docs needs one; keys are hashed and revocable."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

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


def create_api_key(name: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("create_api_key", name, stdout=out)
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
    output, key = create_api_key("door camera")

    assert key not in output.splitlines()[0]
    stored = APIKey.objects.get(name="door camera")
    assert key.startswith(stored.prefix + ".")
    assert key not in (stored.id, stored.hashed_key)  # only the hash is stored
    for headers in ({"HTTP_AUTHORIZATION": f"Api-Key {key}"}, {"HTTP_X_API_KEY": key}):
        assert APIClient().get("/records", **headers).status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 51])
def test_create_api_key_refuses_a_bad_name(name):
    with pytest.raises(CommandError, match="1 to 50 characters"):
        create_api_key(name)
    assert not APIKey.objects.exists()


def test_a_revoked_key_is_refused():
    _, key = create_api_key("laptop")
    api_key = APIKey.objects.get(name="laptop")
    api_key.revoked = True
    api_key.save()

    response = APIClient().get("/records", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_an_expired_key_is_refused():
    _, key = create_api_key("temp")
    APIKey.objects.filter(name="temp").update(expiry_date=timezone.now() - timedelta(minutes=1))

    response = APIClient().get("/records", HTTP_X_API_KEY=key)

    assert response.status_code == 401
    assert response.json() == {"detail": "The API key has expired."}
