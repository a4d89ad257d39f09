"""Scoped API keys over HTTP (the live server): every endpoint x every scope, expired and revoked
keys, keys limited to networks, and what /health tells whom."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone

from access.models import ScopedAPIKey
from access.scopes import ADMIN, ALL, ENROL, MANAGE, MATCH, READ, SCOPES
from events.subscriptions import create_webhook
from jobs.models import Job
from records.models import Collection
from streams.models import Stream
from tests.keys import new_key

# method, path, the scope it needs, the status it answers when allowed (docs/api.md)
ENDPOINTS = [
    ("GET", "/records", READ, 200),
    ("GET", "/records/{id}", READ, 200),
    ("GET", "/records/{id}/images/{image_id}", READ, 200),
    ("GET", "/records/{id}/export", READ, 200),
    ("POST", "/records/match", MATCH, 200),
    ("POST", "/verify", MATCH, 200),
    ("POST", "/records", ENROL, 201),
    ("POST", "/records/{id}/images", ENROL, 201),
    ("PATCH", "/records/{id}", MANAGE, 200),
    ("DELETE", "/records/{id}", MANAGE, 200),
    ("DELETE", "/records/{id}/images/{image_id}", MANAGE, 200),
    ("POST", "/maintenance/rebuild-index", ADMIN, 200),
    ("POST", "/maintenance/rebuild-index?reembed=true", ADMIN, 202),
    ("GET", "/maintenance/jobs/{id}", ADMIN, 200),
    ("GET", "/collections", READ, 200),
    ("POST", "/collections", ADMIN, 201),
    ("PATCH", "/collections/{name}", ADMIN, 200),
    ("DELETE", "/collections/{name}", ADMIN, 200),
    ("GET", "/webhooks", ADMIN, 200),
    ("POST", "/webhooks", ADMIN, 201),
    ("DELETE", "/webhooks/{id}", ADMIN, 204),
    ("GET", "/webhooks/{id}/deliveries", ADMIN, 200),
    ("GET", "/streams", ADMIN, 200),
    ("POST", "/streams", ADMIN, 201),
    ("DELETE", "/streams/{id}", ADMIN, 204),
]
CASES = [(*endpoint, scope) for endpoint in ENDPOINTS for scope in [*SCOPES, ALL]]


@pytest.fixture
def call(live_server, bush, photo, settings):
    """call(method, path, key, **requests_kwargs) -> the response, with {id} and {image_id} those
    of an enrolled person, {name} an empty collection, and the body a real request to that
    endpoint sends."""
    Collection.objects.create(name="site-b")
    job = Job.objects.create(kind=Job.Kind.REEMBED, model_key="another-model", state=Job.State.SUCCEEDED)
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    webhook = create_webhook("http://127.0.0.1:9/hook", ["face.recognized"]).webhook
    settings.STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    stream = Stream.objects.create(name="door", url="rtsp://127.0.0.1:9/door", collection=Collection.default(), fps=5)
    ids = {"/maintenance/jobs/": job.pk, "/webhooks/": webhook.pk, "/streams/": stream.pk}

    def send(method: str, path: str, key: str | None, headers: dict | None = None) -> requests.Response:
        record_id = next((pk for prefix, pk in ids.items() if path.startswith(prefix)), bush.pk)
        url = live_server.url + path.format(id=record_id, image_id=bush.images.get().pk, name="site-b")
        body = {}
        if (method, path) == ("POST", "/collections"):
            body = {"json": {"name": "site-c"}}
        elif (method, path) == ("POST", "/webhooks"):
            body = {"json": {"url": "http://127.0.0.1:9/other", "events": ["record.created"]}}
        elif (method, path) == ("POST", "/streams"):
            body = {"json": {"url": "rtsp://127.0.0.1:9/garden", "name": "garden", "fps": 2}}
        elif (method, path) == ("POST", "/records"):
            body = {"files": {"image": ("p.jpg", photo("Colin_Powell", 0))}, "data": {"name": "Colin Powell"}}
        elif method == "POST" and path.startswith("/records/"):  # match, add a photo
            body = {"files": {"image": ("p.jpg", photo("George_W_Bush", 1))}}
        elif path == "/verify":
            body = {"files": {"image": ("p.jpg", photo("George_W_Bush", 1))}, "data": {"record_id": str(bush.pk)}}
        elif (method, path) == ("PATCH", "/collections/{name}"):
            body = {"json": {"keep_unknown_faces": True}}
        elif method == "PATCH":
            body = {"json": {"metadata": {"role": "governor"}}}
        return requests.request(
            method, url, headers={**({"X-API-Key": key} if key else {}), **(headers or {})}, timeout=60, **body
        )

    return send


@pytest.mark.parametrize(
    "method, path, needed, allowed_status, scope", CASES, ids=[f"{m} {p} with {s}" for m, p, _, _, s in CASES]
)
def test_every_endpoint_with_every_scope(call, unchanged, method, path, needed, allowed_status, scope):
    key = new_key(f"only-{scope}", scopes=[scope])

    if scope in (needed, ALL):
        response = call(method, path, key)
        assert response.status_code == allowed_status, response.text
        return
    with unchanged():
        response = call(method, path, key)
    assert response.status_code == 403
    sent_path = urlsplit(response.request.url).path
    assert response.json() == {
        "detail": f"This API key lacks the '{needed}' scope, which {method} {sent_path} needs.",
        "required_scope": needed,
    }


@pytest.mark.parametrize("path", sorted({path for _, path, _, _ in ENDPOINTS}))
def test_options_describes_an_endpoint_to_any_key_and_to_no_one_else(live_server, bush, path):
    url = live_server.url + path.format(id=bush.pk, image_id=bush.images.get().pk, name="default")

    described = requests.options(url, headers={"X-API-Key": new_key(scopes=[MATCH])}, timeout=30)
    anonymous = requests.options(url, timeout=30)

    assert described.status_code == 200 and described.json()["name"]
    assert anonymous.status_code == 401


@pytest.mark.parametrize("method, path, needed, _", ENDPOINTS)
@pytest.mark.parametrize(
    "change, detail",
    [
        ({"revoked": True}, "The API key is not valid, or it has been revoked."),
        ({"expiry_date": timezone.now() - timedelta(seconds=1)}, "The API key has expired."),
    ],
    ids=["revoked", "expired"],
)
def test_a_revoked_or_expired_key_is_401_everywhere(call, unchanged, method, path, needed, _, change, detail):
    key = new_key("done", scopes=[ALL])
    ScopedAPIKey.objects.filter(name="done").update(**change)

    with unchanged():
        response = call(method, path, key)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Api-Key"
    assert response.json() == {"detail": detail}


def test_a_key_limited_to_networks_is_refused_elsewhere(call, settings, unchanged):
    key = new_key("door-1", scopes=[MATCH, READ], allowed_networks=["10.1.2.0/24"])
    settings.TRUSTED_PROXIES = []

    with unchanged():
        direct = call("GET", "/records", key)
        # Without a trusted proxy, anyone can write X-Forwarded-For: it is not believed.
        forged = call("GET", "/records", key, headers={"X-Forwarded-For": "10.1.2.7"})

    for response in (direct, forged):
        assert response.status_code == 403
        assert response.json() == {"detail": "This API key is not accepted from 127.0.0.1."}


def test_behind_a_trusted_proxy_the_forwarded_client_address_decides(call, settings, unchanged):
    key = new_key("door-1", scopes=[MATCH, READ], allowed_networks=["10.1.2.0/24"])
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the live server's client plays the proxy

    inside = call("GET", "/records", key, headers={"X-Forwarded-For": "10.1.2.7"})
    matched = call("POST", "/records/match", key, headers={"X-Forwarded-For": "10.1.2.7"})
    with unchanged():
        outside = call("GET", "/records", key, headers={"X-Forwarded-For": "10.9.9.9"})

    assert inside.status_code == 200 and inside.json()["total_count"] == 1
    assert matched.status_code == 200 and matched.json()["recognized"] is True
    assert outside.status_code == 403
    assert outside.json() == {"detail": "This API key is not accepted from 10.9.9.9."}


def test_last_use_is_recorded_at_most_once_a_minute(call):
    key = new_key("camera", scopes=[READ])
    stored = ScopedAPIKey.objects.get(name="camera")
    assert stored.last_used_at is None

    call("GET", "/records", key)
    stored.refresh_from_db()
    first = stored.last_used_at
    call("GET", "/records", key)
    stored.refresh_from_db()
    assert first is not None and stored.last_used_at == first  # not written again within the minute

    ScopedAPIKey.objects.filter(pk=stored.pk).update(last_used_at=first - timedelta(minutes=2))
    call("GET", "/records", key)
    stored.refresh_from_db()
    assert stored.last_used_at > first


def test_health_tells_an_anonymous_caller_only_up_or_down(live_server, bush, face_service):
    anonymous = requests.get(f"{live_server.url}/health", timeout=30)
    wrong_key = requests.get(f"{live_server.url}/health", headers={"X-API-Key": "wrong"}, timeout=30)

    assert anonymous.status_code == wrong_key.status_code == 200
    assert anonymous.json() == wrong_key.json() == {"status": "ok", "down": []}


@pytest.mark.parametrize("scope", [*SCOPES, ALL])
def test_health_shows_the_counts_to_a_key_of_any_scope(live_server, bush, face_service, scope):
    response = requests.get(f"{live_server.url}/health", headers={"X-API-Key": new_key(scopes=[scope])}, timeout=30)

    assert response.status_code == 200
    assert response.json()["models"][face_service.model_key]["stored_vectors"] == 1


def test_health_shows_the_counts_to_staff_not_to_other_users(client, django_user_model, bush, face_service):
    client.force_login(django_user_model.objects.create_user("operator"))
    assert client.get("/health").json() == {"status": "ok", "down": []}

    client.force_login(django_user_model.objects.create_user("staff", is_staff=True))
    assert client.get("/health").json()["models"][face_service.model_key]["stored_vectors"] == 1
