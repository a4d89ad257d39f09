"""The live page's frame endpoint (/live/frame) with Django's client, the real model on real photos:
every face's box and name, a frame refused with its status and nothing written, CSRF, and door
mode's one event per person per LIVE_REPEAT_SECONDS; each person shown audited once per window."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from audit.models import AuditEvent
from events.models import Event
from events.subscriptions import create_webhook
from tests.events.test_sightings import side_by_side

from .helpers import ALICE, STRANGER


@pytest.fixture
def subscribed(db, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return create_webhook("http://127.0.0.1:9/hook", ["face.recognized", "face.unknown"]).webhook  # nobody listens


@pytest.fixture
def frame(photo):
    """Colin Powell on the left, Serena Williams (never enrolled) on the right, as one JPEG frame."""
    return side_by_side(photo(ALICE, 1), photo(STRANGER, 0))


def post_frame(client, data: bytes, **fields):
    return client.post("/live/frame", {"frame": SimpleUploadedFile("frame.jpg", data, content_type="image/jpeg"), **fields})


def test_a_frame_answers_every_faces_box_and_name_left_to_right(operator, enrol, frame, subscribed):
    powell = enrol(ALICE, 0)
    answer = post_frame(operator, frame)
    assert answer.status_code == 200
    faces = sorted(answer.json()["faces"], key=lambda face: face["box"][0])
    assert [(face["record_id"], face["name"]) for face in faces] == [(str(powell.pk), "Colin Powell"), (None, None)]
    assert faces[0]["box"][0] + faces[0]["box"][2] <= Image.open(io.BytesIO(frame)).width / 2
    assert 0 < faces[0]["distance"] < 0.6 and not any(face["announced"] for face in faces)
    assert not Event.objects.exists()  # door mode off: nothing sent
    audited = AuditEvent.objects.filter(action=AuditEvent.Action.MATCH)
    assert sorted(audited.values_list("target", "actor", "detail__sighting")) == sorted(
        [(str(powell.pk), "operator", "user: operator"), ("", "operator", "user: operator")]
    )


def test_door_mode_sends_one_event_per_person_per_window(operator, enrol, frame, subscribed, settings):
    powell = enrol(ALICE, 0)
    settings.LIVE_REPEAT_SECONDS = 60
    announced = [sorted(f["announced"] for f in post_frame(operator, frame, door="1").json()["faces"]) for _ in range(3)]
    assert announced == [[True, True], [False, False], [False, False]]
    [recognized] = Event.objects.filter(type="face.recognized")
    assert recognized.data["record_id"] == str(powell.pk)
    assert recognized.data["source"] == {"type": "user", "name": "operator"}
    assert Event.objects.filter(type="face.unknown").count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MATCH).count() == 2  # not one per frame
    settings.LIVE_REPEAT_SECONDS = 0
    post_frame(operator, frame, door="1")
    assert Event.objects.filter(type="face.recognized").count() == 2


def test_a_frame_names_only_the_people_of_the_collection_chosen(operator, enrol, frame, subscribed):
    from records.models import Collection

    Collection.objects.create(name="site-b")
    enrol(ALICE, 0)  # in default
    answer = post_frame(operator, frame, collection="site-b", door="1")
    assert [face["record_id"] for face in answer.json()["faces"]] == [None, None]
    [unknown] = Event.objects.filter(type="face.unknown")
    assert unknown.data["collection"] == "site-b" and not Event.objects.filter(type="face.recognized").exists()
    refused = post_frame(operator, frame, collection="nowhere")
    assert refused.status_code == 400 and refused.json()["detail"].startswith("collection: ")


def test_a_frame_without_a_face_is_no_error(operator, subscribed):
    blank = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 60, 80)).save(blank, "JPEG")
    answer = post_frame(operator, blank.getvalue(), door="1")
    assert (answer.status_code, answer.json()["faces"]) == (200, [])
    assert not Event.objects.exists() and not AuditEvent.objects.filter(action=AuditEvent.Action.MATCH).exists()


@pytest.mark.parametrize(
    "fields, status",
    [({}, 400), ({"frame": SimpleUploadedFile("frame.jpg", b"not a picture", content_type="image/jpeg")}, 400)],
    ids=["no frame", "not an image"],
)
def test_a_refused_frame_says_why_and_writes_nothing(operator, fields, status):
    answer = operator.post("/live/frame", fields)
    assert answer.status_code == status and answer.json()["detail"]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.MATCH).exists()


def test_an_oversized_frame_is_413(operator, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    answer = post_frame(operator, b"\xff" * 2000)
    assert answer.status_code == 413


def test_the_page_and_the_frame_endpoint_want_csrf_and_the_match_permission(user, member):
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.force_login(user)
    assert csrf_checked.post("/live/frame", {}).status_code == 403
    page = csrf_checked.get("/live/")
    assert page.status_code == 200 and b"data-frame-url" in page.content and b"<script>" not in page.content
    viewer = Client()
    viewer.force_login(member("Viewers", "vera"))
    assert viewer.get("/live/").status_code == 403 and viewer.post("/live/frame", {}).status_code == 403
    assert Client().get("/live/").status_code == 302  # to the login page
    assert csrf_checked.get("/live/frame").status_code == 405
    plain = Client()
    plain.force_login(user)
    assert plain.post("/live/").status_code == 405  # the page is only shown
