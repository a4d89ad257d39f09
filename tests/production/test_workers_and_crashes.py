"""Properties 1 and 2 at a small size, on gunicorn over the test database (SQLite, or PostgreSQL
when DATABASE_URL points at one): bench/workers_agree.py and bench/crash_safety.py run the same
scenarios at the issue's sizes. Each runs on FAISS in every worker, on Milvus Lite and on the real
Milvus server (tests/conftest.py's served_vector_store)."""

import itertools

from bench import crash_safety, workers_agree


def test_every_worker_answers_as_the_database_says(gunicorn, api_client, served_vector_store):
    server = gunicorn(3, **served_vector_store)
    keys = itertools.count()

    figures = workers_agree.run(
        server, lambda: api_client(server, f"agree-{next(keys)}"), workers_agree.enrolment_photos(12),
        threads=4, matchers=1, checks=3, delete_every=3, time_limit=240,
    )

    assert figures["enrolments_lost"] == 0, figures["notes"]
    assert figures["stale_answers"] == 0, figures["notes"]
    assert figures["other_failures"] == {}, (figures["notes"], server.logged_errors())
    assert figures["enrolled"] + figures["photos_without_a_face"] == 12 and figures["deleted"] >= 3
    assert figures["records_listed_at_end"] == figures["records_expected_at_end"]
    assert len(figures["checks_answered_per_worker"]) >= 2


def test_after_kill_9_mid_burst_the_database_files_and_every_index_agree(gunicorn, api_client, served_vector_store):
    server = gunicorn(2, **served_vector_store)
    clients = [api_client(server, f"crash-{n}") for n in range(4)]

    figures = crash_safety.run(server, clients[1:], clients[0], rounds=1, kill_within=3.0, seed=4, sample=5)

    [round_] = figures["rounds"]
    assert round_["processes_killed"] == 3
    assert round_["check_integrity_exit"] == 0, round_
    assert round_["workers_agree"], round_["workers_index_vs_stored"]
    assert round_["acknowledged_enrolments_lost"] == 0 and round_["acknowledged_deletes_back"] == 0
    assert round_["sampled_not_found"] == 0 and round_["stale_answers"] == 0
