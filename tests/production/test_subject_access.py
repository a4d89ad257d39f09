"""Subject access: GET /records/{id}/export and the person page's button give a zip of everything
held about the person, and nothing about anyone else; audited; the file does not outlive the
download."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditEvent
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import FaceImage
from tests.keys import key_client
from tests.production.open_files import open_temporary_files
from tests.production.probes import as_kept

pytestmark = pytest.mark.django_db


def upload(data: bytes):
    return SimpleUploadedFile("photo.jpg", data)


@pytest.fixture
def api(face_service) -> APIClient:
    return key_client("dpo")


def download(response) -> zipfile.ZipFile:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="person-')
    assert "no-store" in response["Cache-Control"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_export_holds_everything_about_the_person_and_nothing_else(api, photo, settings):
    settings.AUDIT_KEEP_PROBES = True
    enrolled = api.post(
        "/records", {"name": "Colin Powell", "image": upload(photo("Colin_Powell", 0)), "metadata": '{"role": "minister"}'}
    ).json()["record"]
    person_id = enrolled["id"]
    api.post(f"/records/{person_id}/images", {"image": upload(photo("Colin_Powell", 1))})
    tony = api.post("/records", {"name": "Tony Blair", "image": upload(photo("Tony_Blair", 0))}).json()["record"]["id"]
    api.post("/records/match", {"image": upload(photo("Colin_Powell", 2))})
    api.post("/records/match", {"image": upload(photo("Tony_Blair", 1))})
    # The index's background snapshot holds its lock file open while it writes: let it finish, so
    # only what the export opens is compared.
    get_vector_index(get_service().model_key).wait_for_upkeep()
    held_before = open_temporary_files()

    archive = download(api.get(f"/records/{person_id}/export"))

    images = list(FaceImage.objects.filter(person_id=person_id).select_related("face_vector"))
    assert sorted(archive.namelist()) == sorted(
        ["README.txt", "person.json", "audit_events.json", "jobs.json", *[f"photos/{image.pk}.jpg" for image in images],
         *[f"probes/{e.pk}" for e in AuditEvent.objects.filter(action="match", target=person_id)]]
    )
    record = json.loads(archive.read("person.json"))
    assert (record["id"], record["name"], record["metadata"]) == (person_id, "Colin Powell", {"role": "minister"})
    for stored, exported in zip(images, record["photos"], strict=True):
        with stored.image.open("rb") as handle:
            assert archive.read(exported["file"]) == handle.read()
        assert exported["face_box"] == stored.face_box and exported["model_key"] == stored.model_key
        assert np.allclose(exported["embedding"], stored.vector)
    [probe] = [name for name in archive.namelist() if name.startswith("probes/")]
    assert archive.read(probe) == as_kept(photo("Colin_Powell", 2))
    events = json.loads(archive.read("audit_events.json"))
    # Their enrolment, added photo, the match that recognised them, and the one that returned
    # them as a candidate for someone else (who stays hidden).
    assert [(e["action"], e["target"]) for e in events] == [
        ("enrol", person_id), ("add_photo", person_id), ("match", person_id), ("match", "[someone else]"),
    ]
    assert all(person_id in json.dumps(e) for e in events)
    # Nothing about anyone else.
    assert not any(tony in archive.read(name).decode(errors="ignore") for name in archive.namelist())
    assert photo("Tony_Blair", 1) not in [archive.read(name) for name in archive.namelist()]
    # Audited, and the archive is gone with the download.
    [export] = AuditEvent.objects.filter(action="export")
    assert (export.target, export.detail) == (person_id, {"photos": 2})
    assert open_temporary_files() == held_before


def test_the_person_page_offers_the_export_to_those_who_may_export(client, django_user_model, photo, face_service):
    from records.usecases import enrolment

    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person
    viewer = django_user_model.objects.create_user("viewer")
    client.force_login(viewer)
    assert client.get(f"/people/{person.pk}/export/").status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="view_person"))
    # Browsing people is not enough: photos, vectors and audit events are its own right.
    assert client.get(f"/people/{person.pk}/export/").status_code == 403
    assert "/export/" not in client.get(f"/people/{person.pk}/").content.decode()
    viewer.user_permissions.add(Permission.objects.get(codename="export_person"))
    viewer = django_user_model.objects.get(pk=viewer.pk)  # permissions are cached per user object
    client.force_login(viewer)

    page = client.get(f"/people/{person.pk}/").content.decode()
    assert f'href="/people/{person.pk}/export/"' in page
    archive = download(client.get(f"/people/{person.pk}/export/"))

    with person.first_image.image.open("rb") as stored:
        assert archive.read(f"photos/{person.first_image.pk}.jpg") == stored.read()
    assert AuditEvent.objects.get(action="export").actor == "viewer"


def test_the_export_needs_the_read_scope(face_service, photo):
    from records.usecases import enrolment

    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person

    assert key_client("door", scopes=["match"]).get(f"/records/{person.pk}/export").status_code == 403
    assert key_client("dpo", scopes=["read"]).get(f"/records/{person.pk}/export").status_code == 200


def test_exporting_someone_unknown_is_a_404(api):
    assert api.get("/records/6f1c1e7e-0000-4000-8000-000000000000/export").status_code == 404
    assert api.get("/records/not-an-id/export").status_code == 404
