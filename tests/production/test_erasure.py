"""Erasure: deleting a person removes their rows, every stored photo, every derived file and every
vector, and nothing of them is left in the media folder or returned by any index."""

from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from recognition import gallery as galleries
from recognition.gallery import get_gallery
from records.models import AuditEvent, FaceImage, Person

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(face_service) -> APIClient:
    _, key = APIKey.objects.create_key(name="erasure")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def files_under(folder) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in Path(folder).rglob("*") if path.is_file()}


def enrol_with_photos(api, name: str, photos: list[bytes]) -> str:
    person_id = api.post("/records", {"name": name, "image": upload(photos[0])}).json()["record"]["id"]
    for data in photos[1:]:
        assert api.post(f"/records/{person_id}/images", {"image": upload(data)}).status_code == 201
    return person_id


def upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.jpg", data)


def test_deleting_a_person_leaves_nothing_of_them(api, client, django_user_model, photo, settings):
    theirs = [photo("Colin_Powell", n) for n in range(3)]
    erased = enrol_with_photos(api, "Colin Powell", theirs)
    kept = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    vectors = [bytes(image.embedding) for image in FaceImage.objects.filter(person_id=erased)]
    # Their face crops are derived on request and never stored; ask for them anyway.
    client.force_login(django_user_model.objects.create_user("operator"))
    for image in FaceImage.objects.filter(person_id=erased):
        assert client.get(f"/photos/{image.pk}/face.jpg").status_code == 200
    assert sum(data in theirs for data in files_under(settings.MEDIA_ROOT).values()) == 3

    assert api.delete(f"/records/{erased}").status_code == 200

    assert not Person.objects.filter(pk=erased).exists()
    assert not FaceImage.objects.filter(person_id=erased).exists()
    remaining = files_under(settings.MEDIA_ROOT)
    assert list(remaining.values()) == [photo("Tony_Blair", 0)]  # only the other person's photo
    for data in remaining.values():
        assert not any(vector in data for vector in vectors)
    # No index returns them, searched with their own vectors: this process's, that of a process
    # starting now (snapshot and database), and the API's.
    model_key = FaceImage.objects.get().model_key

    def people_nearest(vector: bytes) -> set[str]:
        return {str(n.person_id) for n in get_gallery(model_key).search(np.frombuffer(vector, np.float32), 10)}

    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    galleries._galleries.clear()
    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    for data in theirs:
        body = api.post("/records/match", {"image": upload(data), "top_k": 10}).json()
        assert erased not in {match["id"] for match in body["top_matches"]}
    # The audit log names them by id only.
    assert AuditEvent.objects.filter(action="delete_person", target=erased).exists()


def test_no_index_snapshot_keeps_their_vectors(api, photo, settings):
    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    vector = bytes(FaceImage.objects.get(person_id=erased).embedding)
    get_gallery(FaceImage.objects.get().model_key).save()  # as a worker does at boot

    api.delete(f"/records/{erased}")

    for data in files_under(settings.INDEX_DIR).values():
        assert vector not in data
