"""Sightings (records/usecases/sightings.py): a watcher's frames are identified face by face with
nothing written, and reported once per appearance — or once per person per window for a watcher
that does not track — as events naming the watcher, and audit events; real model, real photos."""

import io
import threading
import time
from dataclasses import replace

import pytest
from PIL import Image

from audit.models import AuditEvent
from events.models import Event
from records.models import Sighting
from records.usecases import sightings
from records.usecases.errors import ThresholdNotAllowed

DOOR = sightings.Source("camera", "front door")


@pytest.fixture
def subscribed(webhook, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return webhook("http://127.0.0.1:9/hook")[0]  # nothing listens: deliveries stay pending


def side_by_side(*photos: bytes) -> bytes:
    """One frame showing each photo, left to right."""
    images = [Image.open(io.BytesIO(data)).convert("RGB") for data in photos]
    frame = Image.new("RGB", (sum(image.width for image in images), max(image.height for image in images)))
    x = 0
    for image in images:
        frame.paste(image, (x, 0))
        x += image.width
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def frame_of_bush_and_a_stranger(enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    return bush, side_by_side(photo("George_W_Bush", 3), photo("Colin_Powell", 0))


def sighting_audits():
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.MATCH, detail__has_key="sighting").order_by("pk"))


def test_identify_names_every_face_and_writes_nothing(frame_of_bush_and_a_stranger, subscribed):
    bush, frame = frame_of_bush_and_a_stranger
    audits, events = AuditEvent.objects.count(), Event.objects.count()
    seen = sightings.identify(frame)
    named = sorted((face.best_match.id if face.best_match else "") for face in seen.results)
    assert named == ["", str(bush.pk)]  # Bush named, the stranger unknown
    bush_face = next(face for face in seen.results if face.recognized)
    assert bush_face.face_box[0] < Image.open(io.BytesIO(frame)).width / 2  # Bush is on the left
    # A caller who may not read people is told only who is within the threshold.
    assert all(candidate.within_threshold for face in seen.results for candidate in face.top_matches)
    assert (AuditEvent.objects.count(), Event.objects.count()) == (audits, events)


def test_a_frame_without_a_face_has_no_results_and_a_loose_threshold_is_refused(db, face_service):
    blank = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 90)).save(blank, "JPEG")
    seen = sightings.identify(blank.getvalue())
    assert seen.results == () and seen.faces_detected == 0
    with pytest.raises(ThresholdNotAllowed):
        sightings.identify(blank.getvalue(), threshold=5.0, may_read=False)


def test_a_tracked_appearance_is_one_event_naming_the_watcher_and_one_audit_event(frame_of_bush_and_a_stranger, subscribed):
    bush, frame = frame_of_bush_and_a_stranger
    seen = sightings.identify(frame)
    for face in seen.results:
        sightings.report(face, seen, DOOR)
    [recognized] = Event.objects.filter(type="face.recognized")
    [unknown] = Event.objects.filter(type="face.unknown")
    named = next(face for face in seen.results if face.recognized)
    assert recognized.data["record_id"] == str(bush.pk) and recognized.data["name"] == "George W Bush"
    assert recognized.data["source"] == {"type": "camera", "name": "front door"} == unknown.data["source"]
    assert recognized.data["face_box"] == named.face_box and recognized.data["distance"] == named.best_match.distance
    assert recognized.data["collection"] == "default"
    audited = sighting_audits()
    assert [(row.target, row.detail["sighting"], row.detail["recognized"]) for row in audited] == [
        (face.best_match.id if face.best_match else "", "camera: front door", face.recognized) for face in seen.results
    ]


def test_frames_are_reported_once_per_person_per_window_and_sent_only_when_announced(frame_of_bush_and_a_stranger, subscribed):
    bush, frame = frame_of_bush_and_a_stranger
    seen = sightings.identify(frame)
    page = sightings.Source("user", "alice")
    first = sightings.report_frame(seen, page, repeat_seconds=60, announce=False)
    assert len(first.audited) == 2 and first.announced == ()  # Bush, and the unknown faces as one
    assert not Event.objects.exists()
    # Door mode on: sent once, though audited within the window already.
    door = sightings.report_frame(seen, page, repeat_seconds=60, announce=True)
    assert door.audited == () and len(door.announced) == 2
    for _ in range(3):
        again = sightings.report_frame(seen, page, repeat_seconds=60, announce=True)
        assert again.audited == again.announced == ()
    assert Event.objects.filter(type="face.recognized").count() == 1
    assert Event.objects.filter(type="face.unknown").count() == 1
    assert len(sighting_audits()) == 2
    # Another watcher has its own window.
    assert len(sightings.report_frame(seen, DOOR, repeat_seconds=60, announce=True).announced) == 2
    # Once the window has passed, reported again.
    later = sightings.report_frame(seen, page, repeat_seconds=0, announce=True)
    assert len(later.audited) == len(later.announced) == 2
    assert Event.objects.filter(type="face.recognized", data__source={"type": "user", "name": "alice"}).count() == 2


def test_erasing_a_person_erases_their_sightings(frame_of_bush_and_a_stranger, subscribed):
    bush, frame = frame_of_bush_and_a_stranger
    sightings.report_frame(sightings.identify(frame), DOOR, repeat_seconds=60, announce=True)
    assert Sighting.objects.filter(subject=str(bush.pk)).exists()
    bush.delete()
    assert list(Sighting.objects.values_list("subject", flat=True)) == [Sighting.UNKNOWN]


@pytest.mark.django_db(transaction=True)
def test_two_workers_reporting_one_cameras_frames_at_once_send_one_event_per_window(frame_of_bush_and_a_stranger, subscribed, monkeypatch):
    bush, frame = frame_of_bush_and_a_stranger
    seen = sightings.identify(frame)
    bush_only = replace(seen, results=tuple(face for face in seen.results if face.recognized))
    sightings.report_frame(bush_only, DOOR, repeat_seconds=0.5, announce=True)  # the row exists, its window ends
    time.sleep(0.6)
    real_audit = sightings._audit

    def slow_audit(*args):  # holds the row's lock a while, as a slow worker would
        real_audit(*args)
        time.sleep(0.5)

    monkeypatch.setattr(sightings, "_audit", slow_audit)
    start = threading.Barrier(2)
    errors = []

    def serve_a_frame():
        from django.db import connection

        try:
            start.wait()
            sightings.report_frame(bush_only, DOOR, repeat_seconds=0.5, announce=True)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=serve_a_frame) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert Event.objects.filter(type="face.recognized").count() == 2  # the first window's, and one now
    assert len(sighting_audits()) == 2


def test_purge_expired_deletes_sightings_last_reported_past_the_audit_retention(frame_of_bush_and_a_stranger, subscribed, settings):
    from datetime import timedelta

    from django.utils import timezone

    from audit.retention import purge_expired

    settings.AUDIT_RETENTION_DAYS = 365
    bush, frame = frame_of_bush_and_a_stranger
    sightings.report_frame(sightings.identify(frame), DOOR, repeat_seconds=60, announce=True)
    Sighting.objects.filter(subject=str(bush.pk)).update(
        audited_at=timezone.now() - timedelta(days=366), announced_at=timezone.now() - timedelta(days=366)
    )
    assert purge_expired().others["sightings"] == 1
    assert list(Sighting.objects.values_list("subject", flat=True)) == [Sighting.UNKNOWN]
