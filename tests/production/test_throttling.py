"""Rate limits per API key and per logged-in user, answered 429 with Retry-After, and counted
together by every gunicorn worker."""

import os
import signal
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from records.api.throttling import APIKeyRateThrottle
from tests.keys import key_client

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


def redis_url() -> str:
    """A Redis of this machine (127.0.0.1:6379), if one answers."""
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("no Redis answers at 127.0.0.1:6379")
    return url


@pytest.mark.parametrize("cache", ["files in DATA_DIR", "Redis"])
def test_all_gunicorn_workers_count_against_one_allowance(gunicorn, api_client, cache):
    shared = {"REDIS_URL": redis_url(), "CACHE_KEY_PREFIX": f"facesite-test-{uuid.uuid4().hex}"} if cache == "Redis" else {}
    server = gunicorn(2, API_KEY_THROTTLE_RATE="6/minute", **shared)
    client = api_client(server)

    # Which worker accepts a connection is the kernel's choice, and one idle worker can take
    # every request. Pausing one worker, then the other, makes each answer half of them, still
    # one at a time (DRF's count is exact only then).
    answers = []
    for paused in server.worker_pids():
        os.kill(paused, signal.SIGSTOP)
        try:
            answers += [client.call("GET", "/records") for _ in range(10)]
        finally:
            os.kill(paused, signal.SIGCONT)

    assert [status for status, *_ in answers] == [200] * 6 + [429] * 14
    served = server.served_by([request_id for *_, request_id in answers])
    # Both workers answered, yet the key got 6 answers in all, not 6 from each.
    assert len({served[request_id] for *_, request_id in answers}) == 2
