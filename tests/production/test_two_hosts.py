"""Two complete app hosts (bench/two_hosts.py: each its own gunicorn workers, job worker, DATA_DIR
and file cache) over one PostgreSQL (the test database), the real Milvus server, one S3 store
(moto's server: a test double of S3's wire protocol) and one Redis, as two machines would run them."""

import threading
import time
import uuid

import pytest
from django.db import connection

from bench.crash_safety import integrity
from bench.serving import database_url, lfw_people
from bench.two_hosts import AppHost
from jobs.models import Job
from tests.conftest import PASSWORD, vector_store
from tests.keys import new_key
from tests.production.test_logins import Browser, locked
from tests.production.test_throttling import redis_url

pytestmark = pytest.mark.django_db(transaction=True)

ANON_RATE = 20  # a minute, per client address: more than the logins below make from 127.0.0.1


@pytest.fixture
def two_hosts(request, settings, s3_storage, tmp_path, face_service):
    if connection.vendor != "postgresql":
        pytest.skip("two hosts share one PostgreSQL (scripts/test's second pass)")
    with vector_store(request, settings, "milvus", "milvus_standalone_server") as milvus:
        env = {
            **milvus, **s3_storage,
            "REDIS_URL": redis_url("redis://127.0.0.1:6379/5"), "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
            "ANON_THROTTLE_RATE": f"{ANON_RATE}/minute", "TRUSTED_PROXIES": "127.0.0.1",
        }
        hosts = [AppHost(label, tmp_path, 2, database_url(connection.settings_dict), **env) for label in ("a", "b")]
        try:
            for host in hosts:
                host.start()
            yield hosts
        finally:
            for host in hosts:
                host.stop()


def wait_for_job(client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body, *_ = client.call("GET", f"/maintenance/jobs/{job_id}")
        assert status == 200, body
        if body["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def test_two_hosts_answer_as_one(two_hosts, member):
    a, b = two_hosts
    key = new_key("two-hosts")
    on_a, on_b = a.client(key), b.client(key)
    people = lfw_people()
    powell, blair = people["Colin_Powell"], people["Tony_Blair"]

    # Enrolled through A, found through B at once; deleted through B, gone through A at once.
    status, body, *_ = on_a.enrol("Colin Powell", powell[0].read_bytes())
    assert status == 201, body
    powell_id = body["record"]["id"]
    status, body, *_ = on_b.match(powell[1].read_bytes())
    assert (status, body["best_match"]["id"]) == (200, powell_id)
    status, body, *_ = on_b.enrol("Tony Blair", blair[0].read_bytes())
    blair_id = body["record"]["id"]
    assert on_b.delete(powell_id)[0] == 200
    status, body, *_ = on_a.match(powell[1].read_bytes(), top_k=5)
    assert status == 200 and powell_id not in {m["id"] for m in body["top_matches"]}
    assert on_a.call("GET", f"/records/{powell_id}")[0] == 404
    assert on_a.call("GET", f"/records/{blair_id}")[0] == 200

    # Throttles counted together (Redis): the anonymous allowance of one address spent across both.
    anonymous = [host.client(None) for host in (a, b)]
    client_address = {"X-Forwarded-For": "198.51.100.7"}
    statuses = [anonymous[n % 2].call("GET", "/health", headers=client_address)[0] for n in range(ANON_RATE + 2)]
    assert statuses == [200] * ANON_RATE + [429] * 2
    # Lockouts too (the database): failures on A and on B lock the account on both.
    member(None, "victim")
    failures = [Browser(host.server).log_in("victim", "wrong password") for host in (a, b, a, b)]
    assert [answer.status_code for answer in failures] == [200] * 4
    assert locked(Browser(a.server).log_in("victim", "wrong password"))  # the fifth: LOGIN_FAILURE_LIMIT
    assert locked(Browser(b.server).log_in("victim", PASSWORD))
    assert locked(Browser(a.server).log_in("victim", PASSWORD))

    # A re-embed queued on A while A's job worker is down runs on B's.
    a.jobs.stop()
    status, queued, *_ = on_a.call("POST", "/maintenance/rebuild-index?reembed=true")
    assert status == 202, queued
    done = wait_for_job(on_a, queued["id"])
    assert done["state"] == "succeeded", done
    assert Job.objects.get(pk=queued["id"]).worker.split("/")[1] == str(b.jobs.process.pid)
    a.jobs.start()

    # kill -9 of host A mid-burst of enrolments: every one it acknowledged is on B.
    acknowledged, stop = [], threading.Event()
    names = iter([(name, photos[0]) for name, photos in people.items() if name not in ("Colin_Powell", "Tony_Blair")])

    def burst():
        while not stop.is_set():
            name, path = next(names)
            status, body, *_ = on_a.enrol(name.replace("_", " "), path.read_bytes())
            if status == 201:
                acknowledged.append((body["record"]["id"], path))

    sender = threading.Thread(target=burst)
    sender.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    a.kill9()  # with an enrolment in flight
    stop.set()
    sender.join()
    assert len(acknowledged) >= 3
    # Asked with another key: the request in flight on A at the kill holds its key's concurrency
    # slot (in Redis) until the slot expires, as a request that never ended would.
    on_b = b.client(new_key("after-the-kill"))
    for person_id, path in acknowledged:
        assert on_b.call("GET", f"/records/{person_id}")[0] == 200
        status, body, *_ = on_b.match(path.read_bytes())
        assert (status, (body.get("best_match") or {}).get("id")) == (200, person_id), body
    exit_code, differences = integrity(b.server)
    if exit_code:  # the enrolment in flight at the kill may leave its photo without a row
        assert set(differences) <= {"stored files with no row"}, differences
        assert integrity(b.server, repair=True)[0] == 0 and integrity(b.server)[0] == 0
