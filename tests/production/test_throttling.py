"""Rate limits per API key, per logged-in user and per address for anonymous requests, and the
limit of photo-analysing requests running at once per key, beyond which requests wait in the key's
line (first come, first served across workers) before a 429: answered 429 with Retry-After, and
counted together by every gunicorn worker."""

import os
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from access.models import ScopedAPIKey
from access.throttling import AnonymousRateThrottle, APIKeyRateThrottle, KeySlots
from tests.keys import key_client, new_key

pytestmark = pytest.mark.django_db


def test_each_api_key_has_its_own_allowance_then_429_with_retry_after(monkeypatch):
    monkeypatch.setattr(APIKeyRateThrottle, "rate", "3/minute", raising=False)
    greedy, other = key_client("greedy"), key_client("other")

    statuses = [greedy.get("/records").status_code for _ in range(4)]
    refused = greedy.get("/records")

    assert statuses == [200, 200, 200, 429]
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Request was throttled.")
    assert other.get("/records").status_code == 200
    assert [APIClient().get("/health").status_code for _ in range(5)] == [200] * 5  # no key, not counted


def new_user(member, username: str):
    user = member("Viewers", username)
    # Counts are per user id, and an id comes back after an earlier test's rollback: start afresh.
    cache.delete(UserRateThrottle.cache_format % {"scope": "user", "ident": user.pk})
    return user


def test_each_user_of_the_pages_has_their_own_allowance(monkeypatch, client, member):
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    client.force_login(new_user(member, "busy"))

    statuses = [client.get("/people/").status_code for _ in range(3)]
    refused = client.get("/people/")

    assert statuses == [200, 200, 429]
    assert refused["Retry-After"].isdigit()
    client.force_login(new_user(member, "calm"))
    assert client.get("/people/").status_code == 200


def redis_url(url: str = "redis://127.0.0.1:6379/0") -> str:
    """A Redis of this machine, if one answers. CI (.ci/run) sets REQUIRE_REDIS: there a Redis that
    does not answer fails the test instead of skipping it, as REQUIRE_POSTGRES does for PostgreSQL."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        message = f"no Redis answers at {url}"
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.mark.db_independent
@pytest.mark.parametrize("required, outcome", [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_redis_that_does_not_answer_fails_only_where_it_is_required(monkeypatch, required, outcome):
    from bench.serving import free_port

    monkeypatch.setenv("REQUIRE_REDIS", required)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception), match="no Redis answers") as raised:
        redis_url(f"redis://127.0.0.1:{free_port()}/0")  # a port nothing listens on
    assert raised.type is outcome


@pytest.mark.parametrize("cache", ["files in DATA_DIR", "Redis"])
def test_all_gunicorn_workers_count_against_one_allowance(gunicorn, api_client, cache):
    shared = {"REDIS_URL": redis_url(), "CACHE_KEY_PREFIX": f"facesite-test-{uuid.uuid4().hex}"} if cache == "Redis" else {}
    server = gunicorn(2, API_KEY_THROTTLE_RATE="6/minute", **shared)
    client = api_client(server)

    # Each worker answers half of the requests, still one at a time (DRF's count is exact only then).
    answers = []
    for _ in server.each_worker_alone():
        answers += [client.call("GET", "/records") for _ in range(10)]

    assert [status for status, *_ in answers] == [200] * 6 + [429] * 14
    served = server.served_by([request_id for *_, request_id in answers])
    # Both workers answered, yet the key got 6 answers in all, not 6 from each.
    assert len({served[request_id] for *_, request_id in answers}) == 2


def test_anonymous_requests_are_limited_per_client_address(live_server, settings, monkeypatch):
    """/health and the docs, counted together per address; a key's requests are not counted."""
    monkeypatch.setattr(AnonymousRateThrottle, "rate", "3/minute", raising=False)
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test plays a proxy naming several clients

    def get(path: str, client: str, **headers):
        return requests.get(live_server.url + path, headers={"X-Forwarded-For": client, **headers}, timeout=30)

    answers = [get(path, "198.51.100.7") for path in ["/health", "/openapi.json", "/health"]]
    refused = get("/docs", "198.51.100.7")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert get("/health", "198.51.100.8").status_code == 200  # another client, its own allowance
    keyed = get("/health", "198.51.100.7", **{"X-API-Key": new_key(scopes=["match"])})
    assert keyed.status_code == 200 and "models" in keyed.json()


@pytest.mark.parametrize("login_page", ["/accounts/login/", "/admin/login/"])
def test_the_login_pages_have_the_anonymous_allowance(client, monkeypatch, login_page):
    """The same allowance per address as /health and the docs, answered 429 with Retry-After."""
    monkeypatch.setattr(AnonymousRateThrottle, "rate", "2/minute", raising=False)

    def from_address(address: str):
        return client.get(login_page, REMOTE_ADDR=address)

    statuses = [from_address("192.0.2.1").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert from_address("192.0.2.1")["Retry-After"].isdigit()
    assert from_address("192.0.2.2").status_code == 200


@pytest.fixture
def one_at_a_time(settings):
    settings.API_KEY_CONCURRENT_REQUESTS = 1
    settings.API_KEY_WAIT_SECONDS = 0.5


def match_photo(live_server, key: str, data: bytes):
    return requests.post(
        f"{live_server.url}/records/match", headers={"X-API-Key": key}, files={"image": ("p.jpg", data)}, timeout=60
    )


def test_a_key_with_its_requests_running_elsewhere_gets_429(live_server, one_at_a_time, face_service, photo):
    """A slot taken in the shared cache, as another worker serving the same key holds it."""
    key = new_key("camera", scopes=["match", "read"])
    elsewhere = KeySlots(ScopedAPIKey.objects.get(name="camera")).take()

    started = time.monotonic()
    refused = match_photo(live_server, key, photo("Colin_Powell", 0))
    waited = time.monotonic() - started
    listed = requests.get(f"{live_server.url}/records", headers={"X-API-Key": key}, timeout=30)
    other_key = match_photo(live_server, new_key("other", scopes=["match"]), photo("Colin_Powell", 0))
    KeySlots.give_back(elsewhere)
    after = match_photo(live_server, key, photo("Colin_Powell", 0))

    assert refused.status_code == 429
    assert waited >= 0.5  # in the key's line for API_KEY_WAIT_SECONDS first
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["detail"].startswith("This API key already has 1 photo-analysing request (match,")
    assert "no free slot within 0.5 s in the key's line" in refused.json()["detail"]
    assert listed.status_code == 200  # not a photo to analyse: not limited
    assert other_key.status_code == 200
    assert after.status_code == 200


def test_verify_holds_a_slot_too(live_server, one_at_a_time, face_service, photo):
    """Two photos to find and embed: limited as a match is."""
    key = new_key("camera", scopes=["match"])
    elsewhere = KeySlots(ScopedAPIKey.objects.get(name="camera")).take()
    photos = {"image": ("a.jpg", photo("Colin_Powell", 0)), "image2": ("b.jpg", photo("Colin_Powell", 1))}

    refused = requests.post(f"{live_server.url}/verify", headers={"X-API-Key": key}, files=photos, timeout=60)
    KeySlots.give_back(elsewhere)
    after = requests.post(f"{live_server.url}/verify", headers={"X-API-Key": key}, files=photos, timeout=60)

    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert after.status_code == 200 and after.json()["verified"] is True


def test_a_slot_left_by_a_killed_worker_expires(live_server, one_at_a_time, settings, face_service, photo):
    settings.API_KEY_SLOT_SECONDS = 1
    key = new_key("camera", scopes=["match"])
    KeySlots(ScopedAPIKey.objects.get(name="camera")).take()  # never given back

    assert match_photo(live_server, key, photo("Colin_Powell", 0)).status_code == 429
    time.sleep(1.5)
    assert match_photo(live_server, key, photo("Colin_Powell", 0)).status_code == 200


def test_every_answer_gives_its_slot_back(live_server, one_at_a_time, face_service, photo, faces_dir):
    key = new_key("camera", scopes=["match", "enrol"])
    headers = {"X-API-Key": key}
    group = (faces_dir / "samples/group/kit_with_rose.jpg").read_bytes()

    statuses = [
        requests.post(
            f"{live_server.url}/records", headers=headers, files={"image": ("p.jpg", group)},
            data={"name": "Kit", "strict": "true"}, timeout=60,
        ).status_code,  # two faces
        match_photo(live_server, key, b"not a photo").status_code,
        requests.post(f"{live_server.url}/records", headers=headers, data={"name": "x"}, timeout=30).status_code,
        requests.post(
            f"{live_server.url}/records", headers=headers, files={"image": ("p.jpg", photo("Colin_Powell", 0))},
            data={"name": "Colin Powell"}, timeout=60,
        ).status_code,
        match_photo(live_server, key, photo("Colin_Powell", 1)).status_code,
    ]

    assert statuses == [422, 400, 400, 201, 200]
    assert KeySlots(ScopedAPIKey.objects.get(name="camera")).take() is not None  # the slot is free


@pytest.fixture(params=["files in DATA_DIR", "Redis"])
def shared_cache(request, settings, tmp_path):
    """The cache every worker shares: files (one host) or Redis (several), in a place of this test's own."""
    if request.param == "Redis":
        location = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url("redis://127.0.0.1:6379/8")}
    else:
        location = {"BACKEND": "facesite.cache.LockingFileBasedCache", "LOCATION": tmp_path / "cache"}
    settings.CACHES = {"default": location | {"KEY_PREFIX": f"line-test-{uuid.uuid4().hex}"}}


@pytest.mark.db_independent
def test_requests_beyond_the_slots_are_served_first_come_first_served(shared_cache, settings):
    """Three requests wait behind the one running; each slot given back goes to the one that came
    first, and a fourth finds the line full at once."""
    settings.API_KEY_CONCURRENT_REQUESTS, settings.API_KEY_WAITING_REQUESTS, settings.API_KEY_WAIT_SECONDS = 1, 3, 10
    key = SimpleNamespace(prefix=uuid.uuid4().hex[:8])
    running = KeySlots(key).take()
    served = []

    def waiter(name):
        slot = KeySlots(key).wait_for_one()
        served.append(name)
        time.sleep(0.1)  # the request runs; the next in line waits meanwhile
        KeySlots.give_back(slot)

    threads = []
    for number, name in enumerate("ABC", start=1):
        threads.append(threading.Thread(target=waiter, args=(name,)))
        threads[-1].start()
        joined = time.monotonic() + 10
        while not cache.get(f"api-key-line:{key.prefix}:waiting:{number}"):  # in line before the next comes
            assert time.monotonic() < joined, f"{name} never joined the line"
            time.sleep(0.005)
    started = time.monotonic()
    assert KeySlots(key).wait_for_one() is None  # three wait already: the most a key may have in line
    assert time.monotonic() - started < 1
    KeySlots.give_back(running)
    for thread in threads:
        thread.join(timeout=30)

    assert served == ["A", "B", "C"]
    assert KeySlots(key).take() is not None  # every slot given back


def test_a_parallel_client_on_two_workers_is_served_without_429(gunicorn, api_client, faces_dir):
    """One key from 4 threads at once, on 2 workers with the default limits (1 running, 3 waiting
    per key; gthread workers of 4 threads): every match answered. With sync workers and no line,
    most of each round were 429s."""
    server = gunicorn(2)
    camera = api_client(server, "camera", scopes=["match"])
    group = (faces_dir / "samples/group/kit_with_rose.jpg").read_bytes()

    answers = []
    for _ in range(3):
        start = threading.Barrier(4)

        def send():
            start.wait()
            answers.append(camera.match(group))

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert [status for status, *_ in answers] == [200] * 12, [body for status, body, *_ in answers if status != 200]


def test_a_greedy_key_leaves_the_other_key_served(gunicorn, api_client, faces_dir):
    """A key sending from 8 threads back to back (a host's every thread) holds at most half of
    them, one running and three in line: its others are refused at once, and a second key's matches
    meanwhile are all answered."""
    server = gunicorn(2)
    greedy, polite = api_client(server, "greedy", scopes=["match"]), api_client(server, "door", scopes=["match"])
    group = (faces_dir / "samples/group/kit_with_rose.jpg").read_bytes()
    greedy_answers, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            greedy_answers.append(greedy.match(group))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    polite_answers = [polite.match(group) for _ in range(5)]
    stop.set()
    for thread in threads:
        thread.join()

    assert [status for status, *_ in polite_answers] == [200] * 5, polite_answers
    greedy_statuses = {status for status, *_ in greedy_answers}
    assert greedy_statuses == {200, 429}, greedy_statuses
    assert all("in the key's line (at most 3 wait)" in body["detail"] for status, body, *_ in greedy_answers if status == 429)
