"""Keeping unknown faces is opt-in per collection: the faces a match leaves unnamed are kept (crop,
vector, quality, when, who) only where the collection says so, and erased on retention, on
dismissal and when the collection stops keeping them. Real model, real LFW photos."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from inbox.index import index_key
from inbox.models import UnknownCluster, UnknownFace
from recognition.vectors.indexes import get_vector_index
from recognition.models import FaceVector
from audit.models import AuditEvent
from records.models import Collection, PendingErasure
from tests.keys import key_client


def test_nothing_is_kept_when_the_collection_does_not_keep_unknown_faces(db, match, photo):
    answer = match(photo("Colin_Powell", 0))
    assert answer["recognized"] is False
    assert "unknown_face_id" not in answer  # the original contract's answer, unchanged
    every = match(photo("Colin_Powell", 1), faces="all")
    assert all("unknown_face_id" not in face for face in every["results"])
    assert not UnknownFace.objects.exists() and not UnknownCluster.objects.exists()
    assert not FaceVector.objects.filter(model_key__endswith="#unknown").exists()
    assert not default_storage.exists("inbox")


def test_an_unnamed_face_is_kept_with_its_crop_vector_quality_and_who_asked(keeping, match, photo, face_service):
    answer = match(photo("Colin_Powell", 0))
    assert answer["recognized"] is False
    face = UnknownFace.objects.select_related("face_vector").get(pk=answer["unknown_face_id"])
    assert face.collection == keeping
    assert face.face_vector.model_key == index_key(face_service.model_key)
    assert face.face_vector.owner_id == face.cluster_id
    assert face.face_box == answer["face_box"] and face.quality == answer["quality"]
    assert face.seen_by["actor_type"] == "api_key" and face.seen_by["actor"].startswith("tests (")
    with face.crop.open("rb") as handle:
        crop = handle.read()
    assert crop[:2] == b"\xff\xd8"  # a JPEG of the face, re-encoded: none of the upload's metadata
    event = AuditEvent.objects.get(action=AuditEvent.Action.KEEP_UNKNOWN)
    assert event.target == str(face.pk) and event.detail["collection"] == "default"


def test_a_recognised_face_is_not_kept(keeping, enrol, match, photo):
    enrol("Colin Powell", photo("Colin_Powell", 0))
    answer = match(photo("Colin_Powell", 1))
    assert answer["recognized"] is True and "unknown_face_id" not in answer
    assert not UnknownFace.objects.exists()


def test_every_unnamed_face_of_a_group_photo_is_kept(keeping, match, faces_dir):
    group = faces_dir / "samples" / "group"
    data = (group / "couple.jpg").read_bytes()
    answer = match(data, faces="all")
    kept = [face["unknown_face_id"] for face in answer["results"]]
    assert len(kept) == len(answer["results"]) >= 2
    assert UnknownFace.objects.filter(pk__in=kept).count() == len(kept)


def test_a_match_of_another_collection_keeps_nothing_in_default(keeping, api, match, photo):
    Collection.objects.create(name="site-b")
    answer = match(photo("Colin_Powell", 0), collection="site-b")
    assert "unknown_face_id" not in answer and not UnknownFace.objects.exists()


def test_faces_older_than_the_retention_are_purged(keeping, match, photo, settings, django_capture_on_commit_callbacks):
    old = match(photo("Colin_Powell", 0))["unknown_face_id"]
    recent = match(photo("Tony_Blair", 0))["unknown_face_id"]
    UnknownFace.objects.filter(pk=old).update(seen_at=timezone.now() - timedelta(days=settings.UNKNOWN_FACE_RETENTION_DAYS, minutes=1))
    crop = UnknownFace.objects.get(pk=old).crop.name
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired")
    assert list(UnknownFace.objects.values_list("pk", flat=True)) == [UnknownFace.objects.get(pk=recent).pk]
    assert not default_storage.exists(crop) and not PendingErasure.objects.exists()
    assert UnknownCluster.objects.count() == 1  # the emptied cluster went too
    assert get_vector_index(index_key(keeping_model_key())).count() == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.ERASE_UNKNOWN)
    assert event.detail == {"reason": "retention", "faces": [old]}
    assert AuditEvent.objects.get(action=AuditEvent.Action.PURGE).detail["unknown_faces"] == 1


def keeping_model_key():
    from recognition.service import get_service

    return get_service().model_key


def test_a_collection_that_stops_keeping_erases_what_it_kept(keeping, match, photo, django_capture_on_commit_callbacks):
    kept = match(photo("Colin_Powell", 0))["unknown_face_id"]
    crop = UnknownFace.objects.get(pk=kept).crop.name
    admin = key_client("admin", scopes=["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.patch("/collections/default", {"keep_unknown_faces": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["keep_unknown_faces"] is False
    assert not UnknownFace.objects.exists() and not UnknownCluster.objects.exists()
    assert not default_storage.exists(crop)
    assert not FaceVector.objects.filter(model_key__endswith="#unknown").exists()
    erased = AuditEvent.objects.get(action=AuditEvent.Action.ERASE_UNKNOWN)
    assert erased.detail == {"reason": "collection_stopped_keeping", "faces": [kept]}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE_COLLECTION, target="default").exists()
    assert "unknown_face_id" not in match(photo("Colin_Powell", 1))


def test_keeping_is_set_by_an_admin_key_only_and_on_creation(db, api):
    reader = key_client("reader", scopes=["read", "match", "enrol", "manage"])
    assert reader.patch("/collections/default", {"keep_unknown_faces": True}, format="json").status_code == 403
    admin = key_client("admin", scopes=["admin"])
    created = admin.post("/collections", {"name": "lobby", "keep_unknown_faces": True}, format="json")
    assert created.status_code == 201 and created.json()["keep_unknown_faces"] is True
    assert Collection.objects.get(name="lobby").keep_unknown_faces is True
    assert admin.patch("/collections/lobby", {"keep_unknown_faces": "perhaps"}, format="json").status_code == 400
    assert admin.patch("/collections/nowhere", {"keep_unknown_faces": True}, format="json").status_code == 404
    listed = {c["name"]: c["keep_unknown_faces"] for c in api.get("/collections").json()}
    assert listed == {"default": False, "lobby": True}
