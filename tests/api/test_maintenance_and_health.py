"""POST /maintenance/rebuild-index and GET /health."""

import pytest
from django.db import DatabaseError, connection
from rest_framework.test import APIClient

from recognition.calibration import CALIBRATIONS
from recognition.models import FaceVector, IndexState
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records import unavailable
from records.api.serializers import HealthSerializer
from records.models import FaceImage
from tests.keys import key_client

from .samples import upload

pytestmark = pytest.mark.django_db


def test_rebuild_index_answers_the_vectors_it_holds(api, bush, enrol, photo):
    enrol("Colin Powell", photo("Colin_Powell", 0))
    epoch = IndexState.objects.get().epoch

    response = api.post("/maintenance/rebuild-index")

    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True
    assert body["total_vectors"] == 2
    assert body["model"] == get_service().model_key
    assert body["duration_ms"] >= 0 and body["failed"] == []
    assert "2 vectors" in body["message"]
    assert IndexState.objects.get().epoch == epoch + 1  # every process reloads


def test_rebuild_with_reembed_recomputes_from_the_stored_photos_and_matches_the_same(api, bush, photo, settings):
    # The job runs as it is queued, in this process (tests/api/test_jobs.py runs it in a real worker).
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    before = api.post("/records/match", {"image": upload(photo("George_W_Bush", 1))}, format="multipart").json()
    FaceVector.objects.update(embedding=b"\0" * len(bush.images.get().face_vector.embedding))  # a stale vector

    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 202, response.json()
    assert response.json()["result"]["total_vectors"] == 1
    after = api.post("/records/match", {"image": upload(photo("George_W_Bush", 1))}, format="multipart").json()
    assert after["top_matches"][0]["distance"] == before["top_matches"][0]["distance"]


def test_switching_the_mirror_embedding_on_takes_a_reembed_under_its_own_key(api, bush, photo, settings, monkeypatch):
    """FACE_EMBED_MIRROR's vectors are never compared with the default's: until the photos are
    re-embedded nobody is recognised under the new key; afterwards every vector is of that key."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    # The session's loaded service is the process's again afterwards, not a new one.
    monkeypatch.setattr("recognition.service._service", get_service())
    probe = photo("George_W_Bush", 1)
    crop_alone = api.post("/records/match", {"image": upload(probe)}, format="multipart").json()
    settings.FACE_EMBED_MIRROR = True
    mirror_key = "ArcFace-MBF:scrfd:arcface112-flip-v3"

    before = api.post("/records/match", {"image": upload(probe)}, format="multipart").json()
    assert before["model"] == mirror_key and before["recognized"] is False and before["top_matches"] == []
    response = api.post("/maintenance/rebuild-index?reembed=true")
    after = api.post("/records/match", {"image": upload(probe)}, format="multipart").json()

    assert response.status_code == 202 and response.json()["result"]["total_vectors"] == 1
    assert list(FaceVector.objects.values_list("model_key", flat=True)) == [mirror_key]
    assert after["model"] == mirror_key and after["recognized"] is True
    assert after["top_matches"][0]["name"] == crop_alone["top_matches"][0]["name"] == bush.name
    assert after["threshold"] == CALIBRATIONS[mirror_key].threshold
    assert after["top_matches"][0]["distance"] != crop_alone["top_matches"][0]["distance"]


@pytest.mark.parametrize("value", ["maybe", ""])
def test_rebuild_refuses_a_bad_reembed_value(api, bush, unchanged, value):
    with unchanged():
        response = api.post(f"/maintenance/rebuild-index?reembed={value}")

    assert response.status_code == 400
    assert response.json()["detail"] == "reembed: Must be a valid boolean."


def test_health_reports_database_model_and_index_to_a_key(api, bush, face_service):
    response = api.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "down": [],
        "database": True,
        "vector_backend": "faiss",
        "models": {
            face_service.model_key: {
                "active": True, "loaded": True, "index_size": 1,
                "index_generation": IndexState.objects.get(pk=face_service.model_key).generation,
                "stored_vectors": 1,
            }
        },
    }


def test_health_gives_a_key_limited_to_collections_only_their_counts(api, bush, enrol, photo, face_service):
    enrol("Colin Powell", photo("Colin_Powell", 0), collection="site-a")
    enrol("Tony Blair", photo("Tony_Blair", 0), collection="site-b")
    site_a = key_client("site a", ["match"], collections=["site-a"])

    limited = site_a.get("/health").json()["models"][face_service.model_key]
    everyone = api.get("/health").json()["models"][face_service.model_key]

    assert (everyone["stored_vectors"], everyone["index_size"]) == (3, 3)
    assert (limited["stored_vectors"], limited["index_size"]) == (1, None)


def test_health_lists_vectors_stored_under_another_model(api, bush, face_service):
    FaceVector.objects.update(model_key="ArcFace:retinaface:deepface-align-v1")

    models = api.get("/health").json()["models"]

    assert models["ArcFace:retinaface:deepface-align-v1"] == {
        "active": False, "loaded": False, "index_size": None, "index_generation": None, "stored_vectors": 1,
    }
    assert models[face_service.model_key]["stored_vectors"] == 0


def unreachable(*args):
    raise DatabaseError("connection refused")


def test_health_is_503_when_the_database_does_not_answer(api, bush, face_service, monkeypatch):
    gallery = get_vector_index(face_service.model_key)

    monkeypatch.setattr(type(gallery), "sync", unreachable)
    response = api.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] is False and body["down"] == ["database"]
    assert body["models"][face_service.model_key]["stored_vectors"] is None


def test_health_is_503_to_anyone_when_the_database_does_not_answer(monkeypatch):
    monkeypatch.setattr(connection, "ensure_connection", unreachable)

    response = APIClient().get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "down": ["database"]}


def test_health_shows_the_vector_backend_and_the_generation_it_applied(vector_backend, api, bush, face_service):
    body = api.get("/health").json()

    assert body["vector_backend"] == vector_backend
    model = body["models"][face_service.model_key]
    assert model["index_size"] == 1
    assert model["index_generation"] == IndexState.objects.get(pk=face_service.model_key).generation


def test_health_is_503_when_milvus_does_not_answer(api, bush, face_service, settings):
    from bench.serving import free_port

    settings.VECTOR_BACKEND = "milvus"
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    response = api.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["database"] is True
    assert response.json()["down"] == ["vector_index"]
    assert response.json()["vector_backend"] == "milvus"


@pytest.mark.db_independent
def test_the_schema_names_every_dependency_health_can_report_down():
    # /openapi.json's enum for `down` must hold every name the health check gives, or a client
    # generated from the schema fails on the answer it most needs (photo_store was missing).
    reported = {unavailable.DATABASE, unavailable.VECTOR_INDEX, unavailable.PHOTO_STORE, unavailable.DISK}
    assert set(HealthSerializer().fields["down"].child.choices) == reported
