"""Each cause writes its event in its own transaction (a rollback leaves none), with ids, names,
distance, collection, face box and source, never a photo; names leave the outbox once delivered
or once their person is erased."""

import base64

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from events.models import Delivery, Event
from records import jobs
from records.usecases import people
from records.models import Collection, Person
from tests.api.samples import upload

from .conftest import deliver_due

SOURCE_KEYS = {"type", "name"}


@pytest.fixture
def subscribed(webhook, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return webhook("http://127.0.0.1:9/hook")[0]  # nothing listens: deliveries stay pending


def events_of(event_type: str) -> list[Event]:
    return list(Event.objects.filter(type=event_type).order_by("created_at"))


def test_each_cause_writes_its_event_with_ids_names_and_source_and_no_photo(api, enrol, add_photo, photo, subscribed):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    [created] = events_of("record.created")
    first = bush.images.get()
    assert created.data == {
        "record_id": str(bush.pk), "name": "George W Bush", "collection": "default", "photo_id": str(first.pk),
        "face_box": first.face_box, "source": {"type": "command", "name": created.data["source"]["name"]},
    }
    assert created.person_id == bush.pk and created.collection == "default"
    image = add_photo(bush, photo("George_W_Bush", 1))
    people.change_record(bush, {"name": "G. W. Bush"}, collection=Collection.objects.create(name="site-b"))
    recognised = api.post("/records/match", {"image": upload(photo("George_W_Bush", 2))}, format="multipart")
    stranger = api.post("/records/match", {"image": upload(photo("Colin_Powell", 0))}, format="multipart")
    assert recognised.json()["recognized"] and not stranger.json()["recognized"]
    assert events_of("face.recognized")[0].data["name"] == "G. W. Bush"
    api.delete(f"/records/{bush.pk}")

    photo_added, renamed = events_of("record.updated")
    assert photo_added.data["photo_id"] == str(image.pk) and photo_added.data["face_box"] == image.face_box
    assert renamed.data["fields"] == ["name", "collection"] and renamed.data["collection"] == "site-b"
    [face] = events_of("face.recognized")
    assert face.data["record_id"] == str(bush.pk) and face.data["collection"] == "site-b"
    assert face.data["distance"] == recognised.json()["best_match"]["distance"]
    assert face.data["face_box"] == recognised.json()["face_box"]
    assert face.data["source"] == {"type": "api_key", "name": face.data["source"]["name"]}
    assert face.data["source"]["name"].startswith("tests (")
    [unknown] = events_of("face.unknown")
    assert set(unknown.data) == {"collection", "face_box", "threshold", "model", "source"}
    [deleted] = events_of("record.deleted")
    assert deleted.data == {"record_id": str(bush.pk), "collection": "site-b", "source": face.data["source"]}
    assert deleted.collection == "site-b" and deleted.payload()["type"] == "record.deleted"
    # Their erasure took the name out of every event about them, delivered or not.
    assert not Event.objects.filter(data__has_key="name").exists()
    for event in Event.objects.all():  # never a photo: no value is more than a short string
        assert all(len(str(value)) < 300 for value in event.data.values()), event.data
        assert not any(isinstance(value, str) and _is_base64_image(value) for value in event.data.values())


def _is_base64_image(text: str) -> bool:
    try:
        return base64.b64decode(text, validate=True)[:3] in (b"\xff\xd8\xff", b"\x89PN")
    except ValueError:
        return False


def test_a_rolled_back_cause_writes_no_event_nor_delivery_nor_task(enrol, photo, subscribed):
    before = DBTaskResult.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        enrol("George W Bush", photo("George_W_Bush", 0))
        assert Event.objects.count() == 1  # written, in the transaction
        raise RuntimeError("the request failed after the enrolment")
    assert (Person.objects.count(), Event.objects.count(), Delivery.objects.count()) == (0, 0, 0)
    assert DBTaskResult.objects.count() == before


def test_without_a_receiver_nothing_is_written(api, enrol, photo):
    enrol("George W Bush", photo("George_W_Bush", 0))
    api.post("/records/match", {"image": upload(photo("George_W_Bush", 1))}, format="multipart")
    assert Event.objects.count() == 0 and DBTaskResult.objects.count() == 0


def test_a_webhook_gets_only_its_types_and_collection(api, enrol, photo, webhook, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    site_b, _ = webhook("http://127.0.0.1:9/b", events=["record.created"], collection="site-b")
    enrol("George W Bush", photo("George_W_Bush", 0))
    enrol("Colin Powell", photo("Colin_Powell", 0), collection="site-b")
    api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))}, format="multipart")
    assert [d.event.data["name"] for d in site_b.deliveries.all()] == ["Colin Powell"]


def test_a_job_that_ends_writes_job_finished(api, enrol, photo, subscribed, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    enrol("George W Bush", photo("George_W_Bush", 0))
    job = jobs.start_reembed()
    assert job.state == "succeeded"
    [finished] = events_of("job.finished")
    assert finished.data == {"job_id": str(job.pk), "kind": "reembed", "state": "succeeded", "error": None,
                             "source": {"type": "command", "name": finished.data["source"]["name"]}}


def test_names_leave_the_outbox_once_every_delivery_ended(enrol, photo, receiver, webhook):
    hook = receiver()
    webhook(hook.url)
    enrol("George W Bush", photo("George_W_Bush", 0))
    assert Event.objects.get().data["name"] == "George W Bush"
    assert deliver_due() == 1
    assert len(hook.received) == 1 and b"George W Bush" in hook.received[0].body
    assert "name" not in Event.objects.get().data


def test_purge_expired_deletes_ended_events_past_their_retention_and_keeps_those_still_sent(enrol, photo, receiver, webhook, settings):
    from datetime import timedelta

    from django.utils import timezone

    from events.models import Attempt
    from audit.models import AuditEvent
    from audit.retention import purge_expired

    settings.EVENT_RETENTION_DAYS = 30
    delivered_hook, pending_hook = receiver(), receiver(plan=[500])
    webhook(delivered_hook.url, events=["record.created"])
    webhook(pending_hook.url, events=["record.updated"])
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    people.change_record(bush, {"name": "G. W. Bush"})
    powell = enrol("Colin Powell", photo("Colin_Powell", 0))
    deliver_due()  # the two record.created delivered; the record.updated failed, to be retried
    assert Attempt.objects.count() == 3
    Event.objects.exclude(data__record_id=str(powell.pk)).update(created_at=timezone.now() - timedelta(days=31))
    purged = purge_expired()
    # Bush's delivered record.created went with its delivery and attempt; the recent one stays, and
    # so does the old record.updated still being retried.
    assert sorted(Event.objects.values_list("type", flat=True)) == ["record.created", "record.updated"]
    assert Event.objects.get(type="record.created").data["record_id"] == str(powell.pk)
    assert Attempt.objects.count() == 2
    assert purged.others["events"] == 1
    purge = AuditEvent.objects.get(action=AuditEvent.Action.PURGE).detail
    assert (purge["events"], purge["event_deliveries"], purge["event_retention_days"]) == (1, 1, 30)


def test_the_inbox_announces_each_face_kept_and_each_suggested_person_decided_on(api, enrol, photo, subscribed):
    assert api.patch("/collections/default", {"keep_unknown_faces": True}, format="json").status_code == 200
    for number in (0, 1):  # Colin Powell, never enrolled, twice
        api.post("/records/match", {"image": upload(photo("Colin_Powell", number))}, format="multipart")
    api.post("/records/match", {"image": upload(photo("Tony_Blair", 0))}, format="multipart")
    first, second, blair_face = [event.data for event in events_of("inbox.face_kept")]
    assert (first["joined"], first["cluster_faces"], second["joined"], second["cluster_faces"]) == (False, 1, True, 2)
    assert first["cluster_id"] == second["cluster_id"] != blair_face["cluster_id"]
    assert first["how"] == "unnamed" and first["collection"] == "default" and set(first["source"]) == SOURCE_KEYS
    assert len(first["face_box"]) == 4 and "name" not in first

    named = api.post(f"/unknown-faces/clusters/{first['cluster_id']}/enrol", {"name": "Colin Powell"}, format="json")
    assert named.status_code == 201, named.content
    blair = enrol("Tony Blair", photo("Tony_Blair", 1))
    added = api.post(f"/unknown-faces/clusters/{blair_face['cluster_id']}/assign", {"record_id": str(blair.pk)}, format="json")
    assert added.status_code == 200, added.content
    naming, adding = events_of("inbox.reviewed")
    assert naming.data | {"source": None} == {
        "cluster_id": first["cluster_id"], "action": "named", "faces": 2, "collection": "default",
        "record_id": named.json()["record_id"], "source": None,
    }
    assert naming.person_id == Person.objects.get(name="Colin Powell").pk  # erasing them forgets it too
    assert (adding.data["action"], adding.data["record_id"], adding.data["faces"]) == ("added", str(blair.pk), 1)
