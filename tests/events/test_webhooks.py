"""Webhooks: every event type reaches a receiver through the real task worker, signed so that the
Standard Webhooks reference library verifies it; retries with backoff until the receiver answers;
a kill -9 of the worker loses nothing; a webhook failing for a day is disabled; no request to an
address that is not allowed, no redirect followed, a short timeout."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook as Verifier

from audit.models import AuditEvent
from events import webhooks
from events.delivery import backoff, requeue_stranded_deliveries
from events.models import Delivery, Event, EventType, Webhook
from jobs import worker as jobs_worker
from tests.api.samples import upload
from tests.keys import key_client

from .conftest import deliver_due


def verified(secret: str, received) -> dict:
    """The payload, verified with the specification's reference library (it raises otherwise)."""
    return Verifier(secret).verify(received.body, received.headers)


def all_delivered(timeout: float = 10) -> bool:
    """Whether every delivery is marked delivered within `timeout`: the receiver has a request
    before the worker has written down that it was answered."""
    deadline = time.monotonic() + timeout
    while Delivery.objects.exclude(state=Delivery.State.DELIVERED).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_every_event_type_reaches_the_receiver_through_the_worker_signed(api, enrol, add_photo, photo, receiver, webhook, job_worker):
    hook = receiver()
    _, secret = webhook(hook.url)
    job_worker(WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32")
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    add_photo(bush, photo("George_W_Bush", 1))
    api.post("/records/match", {"image": upload(photo("George_W_Bush", 2))}, format="multipart")
    assert api.patch("/collections/default", {"keep_unknown_faces": True}, format="json").status_code == 200
    api.post("/records/match", {"image": upload(photo("Colin_Powell", 0))}, format="multipart")  # kept for review
    [cluster] = api.get("/unknown-faces/clusters?min_faces=1").json()
    assert api.delete(f"/unknown-faces/clusters/{cluster['id']}").status_code in (200, 204)
    job = api.post("/maintenance/rebuild-index?reembed=true").json()
    hook.wait_for(7)
    api.delete(f"/records/{bush.pk}")

    received = hook.wait_for(8)
    payloads = [verified(secret, each) for each in received]
    assert sorted(p["type"] for p in payloads) == sorted(EventType.values), list(Delivery.objects.values_list("state", "last_error"))
    by_type = {p["type"]: p for p in payloads}
    assert by_type["face.recognized"]["data"]["name"] == "George W Bush"
    assert by_type["job.finished"]["data"]["job_id"] == job["id"]
    kept = by_type["inbox.face_kept"]["data"]
    assert kept["cluster_id"] == cluster["id"] and kept["joined"] is False and kept["cluster_faces"] == 1
    assert by_type["inbox.reviewed"]["data"] | {"source": None} == {
        "cluster_id": cluster["id"], "action": "dismissed", "faces": 1, "collection": "default", "source": None,
    }
    assert all(set(p) == {"type", "timestamp", "data"} for p in payloads)
    ids = [each.headers["webhook-id"] for each in received]
    assert len(set(ids)) == 8 and all(each.headers["webhook-signature"].startswith("v1,") for each in received)
    # A signature that does not match is refused by the same library: the check can fail.
    tampered = received[0]
    with pytest.raises(Exception, match="signature"):
        Verifier(secret).verify(tampered.body.replace(b"}", b" }", 1), tampered.headers)
    assert all_delivered()
    assert not Event.objects.filter(data__has_key="name").exists()  # delivered: names dropped


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(enrol, photo, receiver, webhook, job_worker, settings):
    hook = receiver(plan=[500, 503])
    _, secret = webhook(hook.url)
    job_worker(WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", WEBHOOK_RETRY_BASE_SECONDS="0.5")
    enrol("George W Bush", photo("George_W_Bush", 0))

    received = hook.wait_for(3)
    assert len(received) == 3
    assert len({each.headers["webhook-id"] for each in received}) == 1  # the same message, for dedup
    assert verified(secret, received[2])["type"] == "record.created"
    # Exponential: 0.5 s, then 1 s (the worker polls every 0.2 s).
    gaps = [later.at - earlier.at for earlier, later in zip(received, received[1:])]
    assert 0.5 <= gaps[0] < 1.0 <= gaps[1] < 2.0, gaps
    delivery = Delivery.objects.get()
    deadline = time.monotonic() + 10
    while delivery.state == Delivery.State.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        delivery.refresh_from_db()
    attempts = list(delivery.attempt_log.values_list("status_code", flat=True))
    assert (delivery.state, delivery.attempts, attempts) == ("delivered", 3, [500, 503, 200])


def test_a_kill_9_of_the_worker_mid_delivery_loses_no_event(enrol, photo, receiver, webhook, job_worker):
    hook = receiver(delay=3)  # the worker is in the middle of sending when it is killed
    webhook(hook.url)
    first = job_worker(WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32")
    enrol("George W Bush", photo("George_W_Bush", 0))
    enrol("Colin Powell", photo("Colin_Powell", 0))
    hook.wait_for(1)
    first.kill9()
    assert Delivery.objects.filter(state=Delivery.State.PENDING).count() == 2
    assert Delivery.objects.exclude(worker="").count() == 1  # claimed by the dead worker

    hook.delay = 0
    job_worker(WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32")
    received = hook.wait_for(3)
    names = sorted({json.loads(each.body)["data"]["name"] for each in received})
    assert names == ["Colin Powell", "George W Bush"]
    assert all_delivered()


def test_a_delivery_whose_worker_died_is_sent_by_another_live_worker_within_the_sweep(enrol, photo, receiver, webhook, job_worker):
    """No worker starts after the kill: the survivor's periodic sweep (EVENT_SWEEP_SECONDS) finds it."""
    hook = receiver(delay=2)  # the worker is in the middle of sending when it is killed
    webhook(hook.url)
    workers = [job_worker(WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", EVENT_SWEEP_SECONDS="1") for _ in range(2)]
    deadline = time.monotonic() + 120
    while not all("Starting worker" in each.output() for each in workers):  # past their start's own requeue
        assert time.monotonic() < deadline, [each.output() for each in workers]
        time.sleep(0.1)
    enrol("George W Bush", photo("George_W_Bush", 0))
    hook.wait_for(1)
    claimant = Delivery.objects.get().worker
    [dead] = [each for each in workers if claimant.split("/")[1] == str(each.process.pid)]
    dead.kill9()
    killed_at = time.monotonic()
    hook.wait_for(2, timeout=30)
    assert time.monotonic() - killed_at < 1 + 2 + 3  # a sweep, the receiver's delay, the worker's polls
    assert all_delivered()
    assert [each.process.poll() is None for each in workers if each is not dead] == [True]


def test_a_delivery_claimed_by_a_live_worker_is_left_to_it(enrol, photo, webhook, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    webhook("http://127.0.0.1:9/hook")
    enrol("George W Bush", photo("George_W_Bush", 0))
    delivery = Delivery.objects.get()
    Delivery.objects.update(worker=jobs_worker.this_worker(), claimed_at=timezone.now())  # this process: alive
    assert requeue_stranded_deliveries() == []
    Delivery.objects.update(worker="some-host/1/1", claimed_at=timezone.now() - timedelta(hours=1))
    [requeued] = requeue_stranded_deliveries()
    assert requeued.pk == delivery.pk and requeued.worker == "" and requeued.task_id != delivery.task_id


def test_backoff_doubles_up_to_its_ceiling_and_gives_up_after_a_day(enrol, photo, receiver, webhook, settings):
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(30).total_seconds() == settings.WEBHOOK_RETRY_MAX_INTERVAL
    hook = receiver(plan=[500] * 10)
    webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    delivery = Delivery.objects.get()
    assert delivery.state == "pending" and delivery.next_attempt_at > timezone.now() + timedelta(seconds=4)
    # The clock moved on: the event is a day old at the next try, which fails too.
    Event.objects.update(created_at=timezone.now() - timedelta(days=1))
    Delivery.objects.update(next_attempt_at=timezone.now())
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2 and delivery.attempt_log.last().next_retry_at is None
    assert "name" not in Event.objects.get().data  # no more delivery to make: the name goes


def test_a_webhook_failing_for_a_day_is_disabled_with_the_reason(enrol, photo, receiver, webhook):
    hook = receiver(plan=[500] * 10)
    made, _ = webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    enrol("Colin Powell", photo("Colin_Powell", 0))
    deliver_due()
    made.refresh_from_db()
    assert made.enabled and made.failing_since is not None
    Webhook.objects.update(failing_since=timezone.now() - timedelta(days=1))
    Delivery.objects.filter(pk=Delivery.objects.first().pk).update(next_attempt_at=timezone.now())
    deliver_due()
    made.refresh_from_db()
    assert not made.enabled and "every delivery failed since" in made.disabled_reason and "HTTP 500" in made.disabled_reason
    assert set(Delivery.objects.values_list("state", flat=True)) == {"failed"}
    enrol("Tony Blair", photo("Tony_Blair", 0))
    assert Delivery.objects.count() == 2  # a disabled webhook gets nothing new


def test_a_success_clears_the_failure_count(enrol, photo, receiver, webhook):
    hook = receiver(plan=[500])
    made, _ = webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    Delivery.objects.update(next_attempt_at=timezone.now())
    deliver_due()
    made.refresh_from_db()
    assert made.failing_since is None and made.enabled


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.5/hook", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://0.0.0.0/", "ftp://example.com/",
    "http://100.64.0.1/",
])
def test_loopback_private_and_other_addresses_are_refused(api, url):
    response = api.post("/webhooks", {"url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert "url" in response.json()["detail"] or "url" in str(response.json())
    assert not Webhook.objects.exists()


def test_an_allowed_network_is_accepted_and_checked_again_at_each_delivery(api, enrol, photo, receiver, settings):
    hook = receiver()
    response = api.post("/webhooks", {"url": hook.url, "events": ["record.created"]}, format="json")
    assert response.status_code == 201
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # taken back after the webhook was made
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    assert hook.received == []
    assert "not a public address" in Delivery.objects.get().last_error


def test_a_redirect_is_not_followed(enrol, photo, receiver, webhook):
    target = receiver()
    hook = receiver(plan=[307], location=target.url)
    webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    assert len(hook.received) == 1 and target.received == []
    assert Delivery.objects.get().last_error == "HTTP 307 (redirects are not followed)"


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(enrol, photo, receiver, webhook, settings):
    settings.WEBHOOK_TIMEOUT = 0.3
    hook = receiver(delay=2)
    webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    started = time.monotonic()
    deliver_due()
    assert time.monotonic() - started < 1.5
    attempt = Delivery.objects.get().attempt_log.get()
    assert attempt.status_code is None and "timed out" in attempt.error.lower()


def test_the_api_shows_the_secret_once_and_each_attempt(api, enrol, photo, receiver):
    hook = receiver(plan=[500])
    made = api.post("/webhooks", {"url": hook.url, "events": ["record.created"], "collection": "default"}, format="json")
    assert made.status_code == 201
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["record.created"] and body["enabled"]
    listed = api.get("/webhooks").json()
    assert [each["id"] for each in listed] == [body["id"]] and "secret" not in listed[0]
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    Delivery.objects.update(next_attempt_at=timezone.now())
    deliver_due()
    page = api.get(f"/webhooks/{body['id']}/deliveries").json()
    [delivery] = page["deliveries"]
    assert page["total_count"] == 1 and delivery["state"] == "delivered" and delivery["event_type"] == "record.created"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert delivery["attempt_log"][0]["next_retry_at"] and delivery["attempt_log"][1]["next_retry_at"] is None
    assert verified(body["secret"], hook.received[1])["data"]["record_id"]

    assert api.delete(f"/webhooks/{body['id']}").status_code == 204
    assert api.delete(f"/webhooks/{body['id']}").status_code == 404
    assert api.get("/webhooks/not-a-uuid/deliveries").status_code == 404
    # Who pointed recognitions where, and took them back, with the host only (no path or query).
    made_event, deleted_event = AuditEvent.objects.filter(target=body["id"]).order_by("at", "id")
    assert made_event.action == "create_webhook" and made_event.status == 201 and deleted_event.action == "delete_webhook"
    assert made_event.actor and made_event.detail == {"host": "127.0.0.1", "events": ["record.created"], "collection": "default"}


def test_a_key_limited_to_collections_cannot_manage_webhooks(db):
    from records.models import Collection

    Collection.objects.create(name="site-a")
    client = key_client("site-a", scopes=["admin"], collections=["site-a"])
    assert client.get("/webhooks").status_code == 403
    assert client.post("/webhooks", {"url": "http://example.com/"}, format="json").status_code == 403


def test_unknown_event_types_are_400(api):
    response = api.post("/webhooks", {"url": "http://example.com/", "events": ["face.seen"]}, format="json")
    assert response.status_code == 400
