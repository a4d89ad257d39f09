"""The audit log: who enrolled, matched, deleted and created keys, when, what and how it ended,
from the API, the pages, the admin and the commands; read-only in the admin; no probe photo
kept unless AUDIT_KEEP_PROBES says so."""

import hashlib
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from access.models import ScopedAPIKey
from audit.models import AuditEvent
from records.models import Person
from tests.keys import key_client
from tests.production.probes import as_kept

pytestmark = pytest.mark.django_db


@pytest.fixture
def door_camera(face_service) -> tuple[APIClient, ScopedAPIKey]:
    client = key_client("door-camera")
    return client, ScopedAPIKey.objects.get(name="door-camera")


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("at", "id"))


def upload(data: bytes, name: str = "photo.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_api_requests_are_recorded_with_the_key_that_made_them(
    door_camera, photo, django_capture_on_commit_callbacks
):
    api, key = door_camera
    actor = f"door-camera ({key.prefix})"

    created = api.post("/records", {"name": "Colin Powell", "image": upload(photo("Colin_Powell", 0))}).json()
    person_id = created["record"]["id"]
    result = api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))}).json()
    api.post("/records/match", {"image": upload(b"not a photo")})
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/records/{person_id}")

    [enrolled] = events("enrol")
    assert (enrolled.actor_type, enrolled.actor, enrolled.target, enrolled.status) == ("api_key", actor, person_id, 201)
    assert enrolled.remote_addr == "127.0.0.1"
    assert enrolled.detail["faces_detected"] == 1
    matched, refused = events("match")
    assert (matched.actor, matched.target, matched.status) == (actor, person_id, 200)
    assert matched.detail["recognized"] is True and matched.detail["returned"] == [person_id]
    assert matched.detail["distance"] == result["best_match"]["distance"]
    assert matched.probe_sha256 == hashlib.sha256(photo("Colin_Powell", 1)).hexdigest()
    assert not matched.probe  # the probe photo itself is not kept
    assert (refused.status, refused.target) == (400, "")
    assert refused.detail["reason"]
    [deleted] = events("delete_person")
    assert (deleted.actor, deleted.target, deleted.status) == (actor, person_id, 200)
    # The person's deletion is the one event: their photos went with them.
    assert events("delete_photo") == []
    # Ids only: nothing in the log names the person once they are erased.
    assert not AuditEvent.objects.filter(detail__icontains="Colin").exists()


def test_pages_record_the_logged_in_user(client, member, face_service, photo):
    client.force_login(member("Operators", "operator"))

    client.post("/enrol/", {"name": "Tony Blair", "photos": [upload(photo("Tony_Blair", 0))]})
    client.post("/match/", {"photo": upload(photo("Tony_Blair", 1))})

    person = Person.objects.get()
    assert [(e.actor_type, e.actor, e.target) for e in events("enrol")] == [("user", "operator", str(person.pk))]
    assert [(e.actor, e.target) for e in events("match")] == [("operator", str(person.pk))]


def test_commands_record_the_account_and_the_command(face_service, lfw_people, capsys):
    call_command("create_api_key", "batch-job", scopes="match,read")
    call_command("identify", str(lfw_people["Tony_Blair"][0]))
    call_command("rebuild_index")

    for action in ["create_key", "match", "rebuild"]:
        [event] = events(action)
        assert event.actor_type == "command" and ": " in event.actor
    assert events("create_key")[0].detail == {"name": "batch-job", "scopes": ["match", "read"]}


def test_admin_deletions_and_new_keys_are_recorded_as_the_staff_user(
    client, django_user_model, face_service, photo, django_capture_on_commit_callbacks
):
    from records.usecases import enrolment

    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person
    client.force_login(django_user_model.objects.create_superuser("admin"))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/records/person/{person.pk}/delete/", {"post": "yes"})
    client.post("/admin/access/scopedapikey/add/", {"name": "kiosk", "scopes": ["match"]})

    assert [(e.actor, e.target) for e in events("delete_person")] == [("admin", str(person.pk))]
    assert [(e.actor, e.detail) for e in events("create_key")] == [("admin", {"name": "kiosk", "scopes": ["match"]})]


def test_the_admin_shows_the_log_and_lets_nobody_change_it(client, django_user_model, door_camera, photo):
    api, _ = door_camera
    api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))})
    [event] = events("match")
    client.force_login(django_user_model.objects.create_superuser("admin"))

    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"status": 500}).status_code == 403
    assert events("match") == [event] and events("match")[0].status == 200


def test_probe_photos_are_kept_only_when_the_setting_asks(door_camera, photo, settings):
    api, _ = door_camera
    probe = photo("Colin_Powell", 1)

    api.post("/records/match", {"image": upload(probe)})
    assert not [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]
    settings.AUDIT_KEEP_PROBES = True
    api.post("/records/match", {"image": upload(probe)})

    kept = AuditEvent.objects.exclude(probe="").get()
    assert kept.probe.name.startswith("audit/probes/")
    # Kept as photos are stored: re-encoded, without the upload's metadata.
    assert Path(settings.MEDIA_ROOT, kept.probe.name).read_bytes() == as_kept(probe)


def test_reads_are_recorded_from_the_api_and_the_pages(door_camera, client, django_user_model, photo):
    from django.contrib.auth.models import Permission

    api, key = door_camera
    person_id = api.post("/records", {"name": "Colin Powell", "image": upload(photo("Colin_Powell", 0))}).json()["record"]["id"]
    api.post("/records", {"name": "Tony Blair", "image": upload(photo("Tony_Blair", 0))})
    image_id = api.get(f"/records/{person_id}").json()["images"][0]["id"]
    viewer = django_user_model.objects.create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_person"))
    client.force_login(viewer)

    api.get("/records", {"limit": 10})
    api.get(f"/records/{person_id}/images/{image_id}")
    client.get("/people/")
    client.get(f"/people/{person_id}/")
    client.get(f"/photos/{image_id}/")
    client.get(f"/photos/{image_id}/face.jpg")

    api_actor = f"door-camera ({key.prefix})"
    reads = [(e.action, e.actor, e.target, e.detail) for e in AuditEvent.objects.filter(
        action__in=["list", "read", "read_photo"]).order_by("at", "id")]
    assert reads == [
        ("read", api_actor, person_id, {}),
        ("list", api_actor, "", {"records": 2}),
        ("read_photo", api_actor, person_id, {"photo": image_id}),
        ("list", "viewer", "", {"records": 2, "page": 1}),
        ("read", "viewer", person_id, {}),
        ("read_photo", "viewer", person_id, {"photo": image_id}),
        ("read_photo", "viewer", person_id, {"photo": image_id, "thumbnail": True}),
    ]
    assert not AuditEvent.objects.filter(action="bulk_read").exists()


def test_more_reads_in_a_minute_than_the_setting_allows_are_flagged_once(door_camera, client, django_user_model, photo, settings):
    import time_machine

    settings.AUDIT_BULK_READ_PER_MINUTE = 5
    api, key = door_camera
    with time_machine.travel("2026-03-02 10:00:05Z", tick=False):
        for name in ["Colin_Powell", "Tony_Blair", "George_W_Bush"]:
            api.post("/records", {"name": name, "image": upload(photo(name, 0))})
        api.get("/records")  # 3 read
        api.get("/records", {"limit": 2})  # 5: at the limit, not past it
        assert not AuditEvent.objects.filter(action="bulk_read").exists()
        api.get("/records", {"limit": 1})  # 6: past it
        api.get("/records")  # 9: flagged already this minute
    [flag] = AuditEvent.objects.filter(action="bulk_read")
    assert (flag.actor, flag.detail) == (f"door-camera ({key.prefix})", {"read_this_minute": 6, "limit": 5, "last_action": "list"})

    with time_machine.travel("2026-03-02 10:01:05Z", tick=False):
        api.get("/records")  # a new minute: 3
        # Another actor counts on their own.
        client.force_login(django_user_model.objects.create_superuser("admin"))
        client.get("/people/")
    assert AuditEvent.objects.filter(action="bulk_read").count() == 1


def test_changes_and_key_revocations_are_recorded_from_every_path(door_camera, client, django_user_model, photo):
    api, key = door_camera
    person_id = api.post("/records", {"name": "Colin Powell", "image": upload(photo("Colin_Powell", 0))}).json()["record"]["id"]
    client.force_login(django_user_model.objects.create_superuser("admin"))

    api.patch(f"/records/{person_id}", {"name": "Colin L. Powell"}, format="json")
    api.patch(f"/records/{person_id}", {"name": "Colin L. Powell"}, format="json")  # no change: no event
    client.post(f"/admin/records/person/{person_id}/change/", {
        "name": "Colin L. Powell", "metadata": '{"role": "minister"}', "collection": Person.objects.get(pk=person_id).collection_id,
        "images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0, "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000,
    })
    key_client("kiosk", scopes=["match"])
    kiosk = ScopedAPIKey.objects.get(name="kiosk")
    revoke = {"name": "kiosk", "scopes": ["match"], "allowed_networks": "", "revoked": "on"}
    assert client.post(f"/admin/access/scopedapikey/{kiosk.pk}/change/", revoke).status_code == 302
    assert client.post(f"/admin/access/scopedapikey/{key.pk}/delete/", {"post": "yes"}).status_code == 302

    changes = [(e.actor, e.target, e.detail) for e in events("update_person")]
    assert changes == [
        (f"door-camera ({key.prefix})", person_id, {"fields": ["name"]}),
        ("admin", person_id, {"fields": ["metadata"]}),
    ]
    revoked = [(e.actor, e.target, e.detail) for e in events("revoke_key")]
    assert revoked == [
        ("admin", kiosk.prefix, {"name": "kiosk"}),
        ("admin", key.prefix, {"name": "door-camera", "deleted": True}),
    ]
    assert not AuditEvent.objects.filter(detail__icontains="Powell").exists()


def test_reads_in_the_admin_are_recorded(client, django_user_model, face_service, photo):
    from records.usecases import enrolment

    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person
    image = person.images.get()
    client.force_login(django_user_model.objects.create_superuser("admin"))

    assert client.get("/admin/records/person/").status_code == 200
    assert client.get(f"/admin/records/person/{person.pk}/change/").status_code == 200
    assert client.get("/admin/records/faceimage/").status_code == 200
    assert client.get(f"/admin/records/faceimage/{image.pk}/change/").status_code == 200
    assert client.get("/admin/records/person/00000000-0000-0000-0000-000000000000/change/").status_code == 302

    reads = [(e.action, e.actor, e.target, e.detail) for e in AuditEvent.objects.filter(
        action__in=["list", "read", "read_photo"]).order_by("at", "id")]
    assert reads == [
        ("list", "admin", "", {"admin": "person", "records": 1, "page": 1}),
        ("read", "admin", str(person.pk), {"admin": "person"}),
        ("list", "admin", "", {"admin": "faceimage", "records": 1, "page": 1}),
        ("read_photo", "admin", str(person.pk), {"admin": "faceimage", "photo": str(image.pk)}),
    ]
