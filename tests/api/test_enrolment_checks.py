"""Checks at enrolment on real photos: the same LFW person enrolled under two names is caught, a
photo added to the wrong person is flagged, and purpose-made poor photos (downscaled, blurred) are
refused with a machine-readable reason, as are real photos of heads turned too far."""

import hashlib

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from recognition.policy import MatchPolicy
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import Person
from tests.images import blurred, downscaled, enlarged

from .samples import upload

pytestmark = pytest.mark.django_db


def enrol_request(api, data: bytes, name: str, **fields):
    return api.post("/records", {"image": upload(data), "name": name, **fields}, format="multipart")


def add(api, person, data: bytes, **fields):
    return api.post(f"/records/{person.pk}/images", {"image": upload(data), **fields}, format="multipart")


# --- duplicates -----------------------------------------------------------------------------------


def test_the_same_person_enrolled_under_a_second_name_is_flagged(api, enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))

    response = enrol_request(api, photo("George_W_Bush", 1), "G. Bush")

    assert response.status_code == 201
    [duplicate] = response.json()["possible_duplicates"]
    assert duplicate["id"] == str(bush.pk) and duplicate["name"] == "George W Bush"
    assert duplicate["distance"] <= MatchPolicy.of(get_service().model_key).default_threshold


def test_with_on_duplicate_reject_it_is_a_409_and_nothing_is_written(api, enrol, photo, unchanged):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    with unchanged():
        response = enrol_request(api, photo("George_W_Bush", 1), "G. Bush", on_duplicate="reject")
    assert response.status_code == 409
    body = response.json()
    assert [d["id"] for d in body["possible_duplicates"]] == [str(bush.pk)]
    assert "Nothing was stored" in body["detail"]


def test_a_different_person_is_no_duplicate(api, enrol, photo):
    enrol("George W Bush", photo("George_W_Bush", 0))
    response = enrol_request(api, photo("Colin_Powell", 0), "Colin Powell", on_duplicate="reject")
    assert response.status_code == 201
    assert "possible_duplicates" not in response.json()


def test_a_photo_added_to_the_wrong_person_is_flagged(api, enrol, photo, unchanged):
    blair = enrol("Tony Blair", photo("Tony_Blair", 0))
    powell = enrol("Colin Powell", photo("Colin_Powell", 0))

    with unchanged():
        refused = add(api, blair, photo("Colin_Powell", 1), on_duplicate="reject", on_mismatch="allow")
    flagged = add(api, blair, photo("Colin_Powell", 1), on_mismatch="allow")
    right = add(api, blair, photo("Tony_Blair", 1), on_duplicate="reject")

    assert refused.status_code == 409
    assert [d["id"] for d in refused.json()["possible_duplicates"]] == [str(powell.pk)]
    assert flagged.status_code == 201 and flagged.json()["possible_duplicates"][0]["id"] == str(powell.pk)
    assert right.status_code == 201 and "possible_duplicates" not in right.json()


# --- a photo added to someone must look like them -------------------------------------------------


def test_a_photo_of_someone_else_is_refused_with_409_and_nothing_is_written(api, enrol, photo, unchanged):
    serena = enrol("Serena Williams", photo("Serena_Williams", 0))

    with unchanged():
        response = add(api, serena, photo("Tony_Blair", 0))

    assert response.status_code == 409, response.json()
    body = response.json()
    threshold = MatchPolicy.of(get_service().model_key).verification_threshold
    assert body["threshold"] == threshold and body["distance"] > threshold
    assert body["detail"].startswith("This face does not look like 'Serena Williams'")
    refusal = AuditEvent.objects.filter(action=AuditEvent.Action.ADD_PHOTO).get()
    assert refusal.status == 409 and "does not look like" in refusal.detail["reason"]


def test_a_photo_of_the_same_person_is_added(api, enrol, photo):
    serena = enrol("Serena Williams", photo("Serena_Williams", 0))

    response = add(api, serena, photo("Serena_Williams", 1))

    assert response.status_code == 201, response.json()
    assert serena.images.count() == 2
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ADD_PHOTO).get()
    assert event.status == 201 and "mismatch_allowed" not in event.detail


def test_on_mismatch_allow_stores_it_and_the_audit_event_says_so(api, enrol, photo):
    serena = enrol("Serena Williams", photo("Serena_Williams", 0))

    response = add(api, serena, photo("Tony_Blair", 0), on_mismatch="allow")

    assert response.status_code == 201, response.json()
    assert serena.images.count() == 2
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ADD_PHOTO).get()
    threshold = MatchPolicy.of(get_service().model_key).verification_threshold
    assert event.status == 201 and event.detail["mismatch_allowed"] is True
    assert event.detail["threshold"] == threshold and event.detail["distance"] > threshold
    assert event.detail["photo"] == response.json()["image"]["id"]


def test_on_mismatch_takes_only_allow_or_reject(api, enrol, photo, unchanged):
    serena = enrol("Serena Williams", photo("Serena_Williams", 0))
    with unchanged():
        response = add(api, serena, photo("Serena_Williams", 1), on_mismatch="maybe")
    assert response.status_code == 400 and response.json()["detail"].startswith("on_mismatch:")


def test_find_duplicates_lists_the_pairs(enrol, photo, capsys):
    first = enrol("George W Bush", photo("George_W_Bush", 0))
    second = enrol("Bush, George", photo("George_W_Bush", 1))
    enrol("Colin Powell", photo("Colin_Powell", 0))

    call_command("find_duplicates")
    lines = capsys.readouterr().out.splitlines()
    call_command("find_duplicates", threshold=0.01)
    strict = capsys.readouterr().out.splitlines()

    assert len(lines) == 1 and strict == []
    assert f'"id": "{first.pk}"' in lines[0] and f'"id": "{second.pk}"' in lines[0]


def test_duplicates_are_pairs_within_one_collection(enrol, photo):
    from records.duplicates import probable_duplicates

    enrol("George W Bush", photo("George_W_Bush", 0), collection="site-a")
    enrol("G. Bush", photo("George_W_Bush", 1), collection="site-a")
    enrol("George Bush", photo("George_W_Bush", 2), collection="site-b")

    [pair] = probable_duplicates()

    assert (pair.first.name, pair.second.name) == ("George W Bush", "G. Bush")


def test_the_admin_lists_the_pairs(admin_client, enrol, photo):
    enrol("George W Bush", photo("George_W_Bush", 0))
    enrol("Bush, George", photo("George_W_Bush", 1))
    enrol("Colin Powell", photo("Colin_Powell", 0))

    changelist = admin_client.get("/admin/records/person/")
    page = admin_client.get("/admin/records/person/duplicates/")

    assert 'href="/admin/records/person/duplicates/"' in changelist.content.decode()
    assert page.status_code == 200
    assert [(p.first.name, p.second.name) for p in page.context["pairs"]] == [("George W Bush", "Bush, George")]


# --- quality --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spoil, reason", [(downscaled, "too_small"), (blurred, "too_blurred")])
def test_a_poor_photo_is_refused_with_its_reason(api, face_service, photo, unchanged, spoil, reason):
    with unchanged():
        response = enrol_request(api, spoil(photo("Tony_Blair", 0)), "Tony Blair")
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["reason"] == reason and body["face_detected"] is True
    assert set(body["quality"]) == {"eye_distance", "sharpness", "yaw", "pitch", "roll"}


@pytest.mark.parametrize("factor", [1, 4])
def test_a_blurred_face_is_refused_whatever_its_size(api, face_service, photo, unchanged, factor):
    """The same portrait, and at four times its size under four times the blur: sharpness is
    measured on the face aligned to one size, so both are refused and the sharp large one is not."""
    portrait = enlarged(photo("Colin_Powell", 0), factor)
    with unchanged():
        response = enrol_request(api, blurred(portrait, radius=4 * factor), "Colin Powell", on_duplicate="reject")
    body = response.json()
    assert response.status_code == 422 and body["reason"] == "too_blurred", body
    limits = MatchPolicy.of(get_service().model_key).calibration.quality_limits
    assert body["quality"]["eye_distance"] >= factor * limits.min_eye_distance
    sharp = enrol_request(api, portrait, "Colin Powell")
    assert sharp.status_code == 201, sharp.json()


# Real LFW photos the default model's limits turn away (bench/RESULTS.md: 37 of LFW's 9,525), each
# for one limit alone: a head turned to the side (negative yaw: the limit is on its absolute
# value), one bent down (nose near the eyes' line, low pitch) and one tipped back (high pitch).
# (Mirroring the first does not make a positive case: its yaw, 0.62, sits on the limit.)
TURNED = {
    "yaw < 0": "Colin_Powell/Colin_Powell_0228.jpg",
    "low pitch": "George_W_Bush/George_W_Bush_0183.jpg",
    "high pitch": "Emile_Lahoud/Emile_Lahoud_0001.jpg",
}


@pytest.mark.parametrize("turn", TURNED)
def test_a_head_turned_too_far_is_turned_away(api, face_service, faces_dir, unchanged, turn):
    data = (faces_dir / "lfw" / "images" / TURNED[turn]).read_bytes()
    with unchanged():
        response = enrol_request(api, data, "Turned", on_duplicate="reject")
    body = response.json()
    assert response.status_code == 422 and body["reason"] == "turned_away", body
    assert body["face_detected"] is True and "turned too far" in body["detail"]
    limits = MatchPolicy.of(get_service().model_key).calibration.quality_limits
    low, high = limits.pitch_range
    quality = body["quality"]
    expected = {
        "yaw < 0": quality["yaw"] < -limits.max_yaw and low <= quality["pitch"] <= high,
        "low pitch": quality["pitch"] < low and abs(quality["yaw"]) <= limits.max_yaw,
        "high pitch": quality["pitch"] > high and abs(quality["yaw"]) <= limits.max_yaw,
    }
    assert expected[turn], quality  # refused for this one limit alone


def test_the_photo_it_was_made_from_passes_and_its_quality_is_answered(api, face_service, photo):
    response = enrol_request(api, photo("Tony_Blair", 0), "Tony Blair")
    assert response.status_code == 201
    quality = response.json()["quality"]
    limits = MatchPolicy.of(get_service().model_key).calibration.quality_limits
    assert quality["eye_distance"] >= limits.min_eye_distance and quality["sharpness"] >= limits.min_sharpness
    match = api.post("/records/match", {"image": upload(photo("Tony_Blair", 1))}, format="multipart").json()
    assert set(match["quality"]) == set(quality)


def test_the_check_is_off_with_one_setting_unless_strict(api, face_service, photo, settings, unchanged):
    settings.QUALITY_CHECK = False
    poor = blurred(photo("Colin_Powell", 0))  # one face (Tony Blair's first photo shows two)
    with unchanged():
        refused_response = enrol_request(api, poor, "Colin Powell", strict="true")
    refused = refused_response.json()
    assert refused.get("reason") == "too_blurred", refused
    assert refused_response.status_code == 422 and refused["face_detected"] is True
    accepted = enrol_request(api, poor, "Colin Powell")
    limits = MatchPolicy.of(get_service().model_key).calibration.quality_limits
    assert accepted.status_code == 201 and accepted.json()["quality"]["sharpness"] < limits.min_sharpness
    # What was stored is the poor photo, under the name given, with the quality answered.
    [person] = Person.objects.all()
    image = person.images.get()
    record = accepted.json()["record"]
    assert (record["id"], record["name"], record["embedding_index"]) == (str(person.pk), "Colin Powell", image.vector_id)
    assert image.sha256 == hashlib.sha256(poor).hexdigest()
    gallery = get_vector_index(get_service().model_key)
    gallery.sync()
    assert gallery.vector_ids() == {image.vector_id}


def test_matching_a_poor_photo_is_not_refused(api, enrol, photo):
    enrol("Tony Blair", photo("Tony_Blair", 0))
    response = api.post("/records/match", {"image": upload(blurred(photo("Tony_Blair", 1)))}, format="multipart")
    assert response.status_code == 200
