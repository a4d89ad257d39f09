"""Faults survived: each dependency taken away from gunicorn under load and brought back
(records/unavailable.py). While it is down every answer is done or a 503 with Retry-After and a
detail naming it, never a 500 or no answer; /health names it; nothing acknowledged is lost and
nothing half-written remains. Once it is back the same server answers again, without a restart,
a re-embed job queued just before it went away ends, run by the same job worker, and
`check_integrity` finds everything agrees. The counts go to bench/RESULTS.md (Faults)."""

import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests

from bench.serving import JobWorker, Server

from .faults import PG_BIN, CuttableLink, Load, PrivatePostgres, fill, health, mount_tmpfs, restart_milvus_lite, unmount, wait_for

# Different people on each thread's turn, with photos a face is found in.
PEOPLE = ["Ariel_Sharon", "Colin_Powell", "George_W_Bush", "Jean_Chretien", "John_Ashcroft", "Tony_Blair",
          "Hugo_Chavez", "Junichiro_Koizumi", "Serena_Williams", "Vladimir_Putin"]


def load_photos(lfw_people) -> list[tuple[str, bytes]]:
    return [(name, lfw_people[name][number].read_bytes()) for number in range(3) for name in PEOPLE]


def report(name: str, figures: dict) -> None:
    """The figures, printed for bench/RESULTS.md (pytest -s shows them)."""
    print(f"\nFAULTS {name} {json.dumps(figures)}")


def assert_all_there(server: Server, key: str, acknowledged: dict) -> None:
    """Every acknowledged enrolment is a record with its name."""
    session = requests.Session()
    session.headers["X-API-Key"] = key
    for person_id, name in acknowledged.items():
        response = session.get(f"{server.base_url}/records/{person_id}", timeout=30)
        assert response.status_code == 200 and response.json()["name"] == name, (person_id, response.text[:200])


@pytest.fixture
def private_postgres():
    if not (PG_BIN / "initdb").exists():
        message = f"No PostgreSQL server binaries at {PG_BIN} (apt-get install postgresql-15)"
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = PrivatePostgres().create()
    yield cluster
    cluster.remove()


def pending_erasures(server: Server) -> int:
    shell = server.manage("shell", "-c", "from records.models import PendingErasure; print(PendingErasure.objects.count())")
    return int(shell.stdout.strip().splitlines()[-1])


def survive(
    name: str, server: Server, lfw_people, take_away, bring_back, health_says, ask_with_key=False, commits_cut=False,
    erase_while_down=False,
) -> None:
    """Under load on `server`: take_away() the dependency, check every answer while it is down and
    what /health says (health_says(body)), bring_back() and check the same server serves again
    with everything acknowledged there and everything agreeing. With `erase_while_down`, a person
    is erased while it is down: their rows go at once, their files' erasure waits, and completes
    once it is back, by the requests' own retries."""
    [key, *keys] = server.create_api_keys(["faults", "load-0", "load-1"])
    server.start()
    worker = JobWorker(server).start()  # as scripts/serve runs it beside gunicorn
    wait_for(lambda: "Starting worker" in worker.output(), timeout=120)  # past its start-up checks
    session = requests.Session()
    session.headers["X-API-Key"] = key
    try:
        with Load(server.base_url, keys, load_photos(lfw_people)) as load:
            wait_for(lambda: load.count("before", 201) >= 3, timeout=120)
            # A re-embed of every photo queued just before: running or waiting when it goes away.
            queued = session.post(server.base_url + "/maintenance/rebuild-index?reembed=true", timeout=60)
            assert queued.status_code == 202, queued.text
            load.phase = "down"
            taken = take_away()
            wait_for(lambda: load.count("down", 503) >= 6, timeout=120)
            status, body = health(server.base_url, key if ask_with_key else None)
            assert status == 503 and health_says(body), body
            if erase_while_down:
                with load.lock:
                    erased = next(iter(load.acknowledged))
                    del load.acknowledged[erased]
                deleted = session.delete(f"{server.base_url}/records/{erased}", timeout=60)
                assert deleted.status_code in (200, 204), deleted.text
                assert pending_erasures(server) > 0  # the photo's erasure waits for the store
            load.phase = "back"
            bring_back(taken)
            back_in = wait_for(lambda: load.count("back", 201) >= 3, timeout=120)
        assert health(server.base_url)[0] == 200
        assert load.bad == [], load.bad[:10]
        assert server.process.poll() is None  # the same server: never restarted
        job_url = f"{server.base_url}/maintenance/jobs/{queued.json()['id']}"
        wait_for(lambda: session.get(job_url, timeout=30).json()["state"] in ("succeeded", "failed"), timeout=240)
        job = session.get(job_url, timeout=30).json()
        assert job["state"] == "succeeded", (job, worker.output()[-3000:])
        assert worker.process.poll() is None, worker.output()[-3000:]  # the same worker, still serving
        assert_all_there(server, key, load.acknowledged)
        if erase_while_down:
            # Any request retries what is pending (every ERASURE_RETRY_SECONDS in each worker).
            gone = f"{server.base_url}/records/{erased}"
            wait_for(lambda: session.get(gone, timeout=30).status_code == 404 and pending_erasures(server) == 0,
                     timeout=120, step=2)
        # A 503 kept nothing: the people are those acknowledged. Except, with `commits_cut`, an
        # enrolment whose COMMIT was in flight when the database went: stored, its answer lost with
        # the connection (no server can tell the client; on_duplicate=reject refuses its retry).
        count = server.manage("shell", "-c", "from records.models import Person; print(Person.objects.count())")
        beyond = int(count.stdout.strip().splitlines()[-1]) - len(load.acknowledged)
        assert 0 <= beyond <= (load.count("down", 503) if commits_cut else 0), beyond
        # No row without its photo or vector, no photo file without its row (none written in part).
        assert server.manage("check_integrity").returncode == 0
    finally:
        worker.stop()
        server.stop()
    report(name, {**load.figures(), "acknowledged": len(load.acknowledged), "answering_again_s": round(back_in, 1),
                  "reembed_job_attempts": job["attempts"], "stored_though_503": beyond})


@pytest.mark.db_independent  # its own PostgreSQL, whichever the test run has
def test_postgresql_stopped_under_load_and_started_again(private_postgres, tmp_path, lfw_people):
    server = Server(2, tmp_path / "server", private_postgres.url)
    server.data_dir.mkdir()
    server.migrate(static=False)
    survive(
        "postgresql", server, lfw_people, private_postgres.stop, lambda _: private_postgres.start(),
        lambda body: body == {"status": "unavailable", "down": ["database"]}, commits_cut=True,
    )


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    if not mount_tmpfs(folder, "64m"):
        message = "Cannot mount a tmpfs here (needs root)"
        if os.environ.get("REQUIRE_CONTAINER"):
            pytest.fail(message)
        pytest.skip(message)
    yield folder
    unmount(folder)


def test_the_data_disk_full_under_load_and_freed_again(transactional_db, small_disk, lfw_people):
    from django.db import connection

    from bench.serving import database_url

    # DATA_DIR and the photos on the small disk; the database where the test run has it.
    server = Server(2, small_disk / "data", database_url(connection.settings_dict), small_disk / "data" / "media")
    server.data_dir.mkdir()
    survive(
        "disk", server, lfw_people, lambda: fill(small_disk), Path.unlink,
        # Its report, or, when the throttle's file cache under DATA_DIR could not be written
        # before the view ran, the 503 every request gets then: both name the disk.
        lambda body: "disk" in body.get("down", []) or body.get("unavailable") == "disk",
    )


def test_milvus_stopped_under_load_and_started_again(transactional_db, tmp_path, lfw_people):
    from django.db import connection

    from bench.serving import database_url
    from bench.services import MilvusLite

    # Milvus Lite (milvus-lite's development server, a stand-in for Milvus) of the test's own.
    milvus = MilvusLite(tmp_path / "milvus").start()
    try:
        server = Server(2, tmp_path / "server", database_url(connection.settings_dict), tmp_path / "media",
                        VECTOR_BACKEND="milvus", MILVUS_URI=milvus.uri, MILVUS_TIMEOUT=3)
        server.data_dir.mkdir()
        survive(
            "milvus-lite", server, lfw_people, milvus.stop, lambda _: restart_milvus_lite(milvus),
            # Its report, or the 503 naming the index when the index cannot even be opened.
            lambda body: "vector_index" in body.get("down", []) or body.get("unavailable") == "vector_index",
            ask_with_key=True,  # the index is asked about only for a key
        )
    finally:
        milvus.stop()


@pytest.mark.db_independent  # the real Milvus server's outage, not the database's
def test_the_real_milvus_server_cut_off_under_load_and_reachable_again(
    transactional_db, tmp_path, lfw_people, milvus_standalone_server
):
    import uuid

    from django.db import connection

    from bench.serving import database_url

    # The session's Milvus 2.3.5 standalone server, reached through a link the test cuts: the
    # server's many components and its embedded etcd are not restarted for one test.
    link = CuttableLink(milvus_standalone_server.uri).restore()
    try:
        server = Server(2, tmp_path / "server", database_url(connection.settings_dict), tmp_path / "media",
                        VECTOR_BACKEND="milvus", MILVUS_URI=link.url, MILVUS_TIMEOUT=3,
                        MILVUS_COLLECTION_PREFIX=f"faults_{uuid.uuid4().hex[:12]}")
        server.data_dir.mkdir()
        survive(
            "milvus-standalone", server, lfw_people, link.cut, lambda _: link.restore(),
            lambda body: "vector_index" in body.get("down", []) or body.get("unavailable") == "vector_index",
            ask_with_key=True,  # the index is asked about only for a key
        )
    finally:
        link.cut()


def test_s3_cut_off_under_load_and_reachable_again(transactional_db, tmp_path, lfw_people):
    from django.db import connection

    from bench.serving import database_url
    from bench.services import S3Server

    # moto's standalone server: a test double of S3's wire protocol, not S3. The network to it is
    # cut, not the server stopped, since it keeps its buckets in memory.
    s3 = S3Server(tmp_path / "s3").start()
    link = CuttableLink(s3.endpoint_url).restore()
    try:
        storage = {**s3.new_bucket("faults"), "AWS_S3_ENDPOINT_URL": link.url}
        server = Server(2, tmp_path / "server", database_url(connection.settings_dict), tmp_path / "media",
                        ERASURE_RETRY_SECONDS=2, **storage)
        server.data_dir.mkdir()
        survive(
            "s3", server, lfw_people, link.cut, lambda _: link.restore(),
            lambda body: "photo_store" in body.get("down", []),
            ask_with_key=True,  # the photo store is asked about only for a key
            erase_while_down=True,  # check_integrity at the end finds any photo object left of them
        )
    finally:
        link.cut()
        s3.stop()


def test_a_hung_s3_store_is_a_503_within_seconds_not_a_killed_worker(transactional_db, tmp_path, photo):
    from django.db import connection

    from bench.serving import HOST, database_url, free_port
    from bench.services import S3Server

    # Takes connections and never answers, as a hung store does (the kernel completes the handshake).
    hung = socket.create_server((HOST, free_port()))
    try:
        server = Server(1, tmp_path / "server", database_url(connection.settings_dict), tmp_path / "media",
                        AWS_STORAGE_BUCKET_NAME="hung", AWS_S3_ENDPOINT_URL=f"http://{HOST}:{hung.getsockname()[1]}",
                        AWS_S3_REGION_NAME=S3Server.REGION, AWS_S3_TIMEOUT=1, **S3Server.CREDENTIALS)
        server.data_dir.mkdir()
        [key] = server.create_api_keys(["hung-store"])
        server.start()
        try:
            started = time.monotonic()
            response = requests.post(server.base_url + "/records", headers={"X-API-Key": key}, timeout=120,
                                     files={"image": ("p.jpg", photo("Tony_Blair"))}, data={"name": "Tony Blair"})
            took = time.monotonic() - started
        finally:
            server.stop()
    finally:
        hung.close()
    assert response.status_code == 503 and response.json()["unavailable"] == "photo_store", response.text[:300]
    assert response.headers["Retry-After"]
    assert took < 20, took  # 3 attempts of 1 s each and their back-off, far inside gunicorn's 60 s
