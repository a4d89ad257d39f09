"""What an answer shows of people follows the key's scopes (records/api/disclosure.py): an `enrol`
key learns who a face looks like only with `match` or `read`, the record it adds a photo to only
with `read`, and a `manage` key deletes without being told whose record it was. Same statuses for
everyone; a key with every scope sees what it always saw. Real photos, real requests."""

import json

import pytest

from access.scopes import ENROL, MANAGE, MATCH, READ
from audit.models import AuditEvent
from tests.keys import key_client

from .samples import upload

pytestmark = pytest.mark.django_db


def enrol_request(client, data: bytes, name: str, **fields):
    return client.post("/records", {"image": upload(data), "name": name, **fields}, format="multipart")


def add(client, person, data: bytes, **fields):
    return client.post(f"/records/{person.pk}/images", {"image": upload(data), **fields}, format="multipart")


def names_anyone(body: dict, person) -> bool:
    text = json.dumps(body)
    return person.name in text or str(person.pk) in text or "president" in text


@pytest.mark.parametrize("on_duplicate, status", [("reject", 409), ("allow", 201)])
def test_an_enrol_only_key_is_told_a_face_looks_like_someone_but_not_who(enrol, photo, on_duplicate, status):
    bush = enrol("George W Bush", photo("George_W_Bush", 0), {"role": "president"})
    kiosk = key_client("kiosk", [ENROL])

    response = enrol_request(kiosk, photo("George_W_Bush", 1), "G. Bush", on_duplicate=on_duplicate)

    body = response.json()
    assert response.status_code == status, body
    assert not names_anyone(body, bush), body
    [duplicate] = body["possible_duplicates"]
    assert set(duplicate) == {"distance"}
    # The check is an identification, whoever could see its answer: audited as one, by id.
    check = AuditEvent.objects.get(action=AuditEvent.Action.MATCH, actor__startswith="kiosk")
    assert check.target == str(bush.pk) and check.detail["duplicate_check"] == "enrol"
    assert check.detail["returned"] == [{"id": str(bush.pk), "distance": duplicate["distance"]}]


@pytest.mark.parametrize("scopes", [["all"], [ENROL, MATCH], [ENROL, READ]], ids=["all", "enrol+match", "enrol+read"])
def test_a_key_that_may_identify_is_told_who(enrol, photo, scopes):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))

    response = enrol_request(key_client("desk", scopes), photo("George_W_Bush", 1), "G. Bush", on_duplicate="reject")

    body = response.json()
    assert response.status_code == 409
    assert body["possible_duplicates"] == [{"id": str(bush.pk), "name": "George W Bush", "distance": body["possible_duplicates"][0]["distance"]}]
    assert body["detail"].startswith("This face looks like someone already enrolled: 'George W Bush' (")


def test_the_refusal_kept_in_the_audit_log_names_no_one(enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))

    enrol_request(key_client("desk"), photo("George_W_Bush", 1), "G. Bush", on_duplicate="reject")

    refusal = AuditEvent.objects.get(action=AuditEvent.Action.ENROL, status=409)
    assert "George" not in json.dumps(refusal.detail)
    assert [d["id"] for d in refusal.detail["possible_duplicates"]] == [str(bush.pk)]


def test_adding_a_photo_with_an_enrol_only_key_shows_nothing_of_the_record(enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0), {"role": "president"})

    kiosk = add(key_client("kiosk", [ENROL]), bush, photo("George_W_Bush", 1))
    reader = add(key_client("desk", [ENROL, READ]), bush, photo("George_W_Bush", 2))

    assert kiosk.status_code == reader.status_code == 201
    body = kiosk.json()
    assert "record" not in body and "George" not in json.dumps(body) and "president" not in json.dumps(body)
    assert body["image"]["id"]  # what it added is its own to see
    assert reader.json()["record"]["metadata"] == {"role": "president"}
    assert reader.json()["message"] == "Added a photo of 'George W Bush'"


def test_a_photo_of_someone_else_is_refused_without_their_name_to_an_enrol_only_key(enrol, photo):
    serena = enrol("Serena Williams", photo("Serena_Williams", 0))

    kiosk = add(key_client("kiosk", [ENROL]), serena, photo("Tony_Blair", 0))
    reader = add(key_client("desk", [ENROL, READ]), serena, photo("Tony_Blair", 0))

    assert kiosk.status_code == reader.status_code == 409
    assert "Serena" not in kiosk.json()["detail"] and kiosk.json()["distance"] == reader.json()["distance"]
    assert reader.json()["detail"].startswith("This face does not look like 'Serena Williams'")
    for refusal in AuditEvent.objects.filter(action=AuditEvent.Action.ADD_PHOTO, status=409):
        assert "Serena" not in json.dumps(refusal.detail)


def test_a_manage_only_key_deletes_without_being_told_whose_record(enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    blair = enrol("Tony Blair", photo("Tony_Blair", 0))

    manager = key_client("cleaner", [MANAGE]).delete(f"/records/{bush.pk}")
    full = key_client("ops").delete(f"/records/{blair.pk}")

    assert manager.status_code == full.status_code == 200
    assert "George" not in manager.json()["message"] and manager.json()["deleted_id"] == str(bush.pk)
    assert full.json()["message"] == "Successfully deleted record for 'Tony Blair'"


def test_a_manage_only_key_changes_a_record_without_being_told_its_name_or_metadata(enrol, photo):
    bush = enrol("George W Bush", photo("George_W_Bush", 0), {"role": "president"})

    manager = key_client("clerk", [MANAGE]).patch(f"/records/{bush.pk}", {"metadata": {"role": "retired"}}, format="json")
    full = key_client("ops").patch(f"/records/{bush.pk}", {"name": "G. W. Bush"}, format="json")

    assert manager.status_code == full.status_code == 200
    assert "name" not in manager.json() and "metadata" not in manager.json()
    assert "George" not in json.dumps(manager.json()) and manager.json()["id"] == str(bush.pk)
    assert len(manager.json()["images"]) == 1
    # A key with every scope sees the record as it always did.
    assert full.json()["name"] == "G. W. Bush" and full.json()["metadata"] == {"role": "retired"}
    assert set(full.json()) == {"id", "name", "metadata", "created_at", "embedding_index", "collection", "updated_at", "images"}
