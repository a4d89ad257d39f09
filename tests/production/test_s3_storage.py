"""Photos, thumbnails, kept probes, staged imports and exports on S3-compatible storage: a versioned
bucket of moto's standalone server (tests/conftest.py's s3_storage; a test double of S3's wire
protocol, not S3), in this process and in the job worker. Nothing is written to the local media
folder, and an erasure leaves no version of the object behind (with versioning on, a plain delete
would only hide it behind a delete marker)."""

import io
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from inbox.models import UnknownFace
from jobs.models import Job
from records.models import Collection, FaceImage, PendingErasure
from tests.jobs import wait_until_finished
from tests.keys import key_client
from tests.production.probes import as_kept

# The storage is what these tests vary; the database's part is the same as everywhere else.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_independent]


def versions(s3, bucket: str) -> dict[str, int]:
    """Key -> how many versions (delete markers included) the bucket holds of it."""
    held: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            held[version["Key"]] = held.get(version["Key"], 0) + 1
    return held


def current(s3, bucket: str) -> dict[str, bytes]:
    """Key -> the bytes of every object the bucket shows."""
    held = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            held[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return held


def local_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def upload(data: bytes, name: str = "photo.jpg"):
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.fixture
def bucket(s3_storage, s3_server):
    return s3_server.client(), s3_storage["AWS_STORAGE_BUCKET_NAME"]


def test_enrol_match_photos_thumbnails_probes_export_and_erasure_on_s3(
    bucket, face_service, photo, client, member, settings
):
    s3, name = bucket
    settings.AUDIT_KEEP_PROBES = True
    api = key_client("s3")
    powell = api.post("/records", {"name": "Colin Powell", "image": upload(photo("Colin_Powell", 0))}).json()["record"]["id"]
    assert api.post(f"/records/{powell}/images", {"image": upload(photo("Colin_Powell", 1))}).status_code == 201
    blair = api.post("/records", {"name": "Tony Blair", "image": upload(photo("Tony_Blair", 0))}).json()["record"]["id"]
    images = {image.pk: image.image.name for image in FaceImage.objects.filter(person_id=powell)}
    stored = current(s3, name)
    assert set(images.values()) < set(stored) and all(key.startswith("faces/") for key in stored)

    probe = photo("Colin_Powell", 2)
    assert api.post("/records/match", {"image": upload(probe)}).json()["best_match"]["id"] == powell
    kept = {key: data for key, data in current(s3, name).items() if key.startswith("audit/")}
    assert list(kept.values()) == [as_kept(probe)]

    client.force_login(member("Managers", "mia"))
    for pk in images:
        assert client.get(f"/photos/{pk}/face.jpg").status_code == 200
    thumbnails = [key for key in current(s3, name) if key.startswith(f"{settings.THUMBNAIL_BASEDIR}/")]
    assert len(thumbnails) == 2

    export = api.get(f"/records/{powell}/export")
    assert export.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content)))
    photos_exported = sorted(archive.read(entry) for entry in archive.namelist() if entry.startswith("photos/"))
    assert photos_exported == sorted(stored[key] for key in images.values())
    assert local_files(settings) == []  # nothing of theirs on this host's disk

    # One photo removed on their page: it, its thumbnail and every version of both are gone.
    removed, left = list(images)
    assert client.post(f"/people/{powell}/photos/{removed}/remove/").status_code == 302
    assert images[removed] not in versions(s3, name)
    assert len([key for key in versions(s3, name) if key.startswith(f"{settings.THUMBNAIL_BASEDIR}/")]) == 1
    assert api.post("/records/match", {"image": upload(probe)}).json()["best_match"]["id"] == powell

    call_command("check_integrity")  # exits non-zero (SystemExit) when anything differs

    # The person deleted: no version of any object of theirs is left, only the other person's photo.
    assert api.delete(f"/records/{powell}").status_code == 200
    assert not PendingErasure.objects.exists()
    blair_photo = FaceImage.objects.get(person_id=blair).image.name
    assert versions(s3, name) == {blair_photo: 1}
    matches = api.post("/records/match", {"image": upload(probe)}).json()["top_matches"]
    assert [m["id"] for m in matches] == [blair]


def test_check_integrity_finds_and_repairs_on_s3(bucket, face_service, photo, capsys):
    s3, name = bucket
    api = key_client("s3")
    assert api.post("/records", {"name": "Tony Blair", "image": upload(photo("Tony_Blair", 0))}).status_code == 201
    stray = "faces/stray.jpg"
    s3.put_object(Bucket=name, Key=stray, Body=photo("Tony_Blair", 1))
    s3.put_object(Bucket=name, Key=stray, Body=photo("Tony_Blair", 2))  # two versions of it

    with pytest.raises(SystemExit):
        call_command("check_integrity")
    assert "stored files with no row: 1" in capsys.readouterr().out
    call_command("check_integrity", "--repair")
    assert stray not in versions(s3, name)
    call_command("check_integrity")


def test_check_integrity_finds_and_repairs_the_inboxs_crops_on_s3(bucket, face_service, photo, capsys):
    """A kept unknown face whose crop object is gone is erased, a crop object with no face deleted
    with every version of it."""
    s3, name = bucket
    collection = Collection.default()
    collection.keep_unknown_faces = True
    collection.save()
    api = key_client("s3")
    kept = [
        api.post("/records/match", {"image": upload(photo("Colin_Powell", number))}).json()["unknown_face_id"]
        for number in (0, 1)
    ]
    crops = dict(UnknownFace.objects.values_list("pk", "crop"))
    assert sorted(key for key in current(s3, name) if key.startswith("inbox/")) == sorted(crops.values())
    call_command("check_integrity")
    lost = uuid.UUID(kept[0])
    s3.delete_object(Bucket=name, Key=crops[lost])
    stray = f"inbox/{collection.pk}/{uuid.uuid4()}.jpg"
    s3.put_object(Bucket=name, Key=stray, Body=photo("Colin_Powell", 2))
    s3.put_object(Bucket=name, Key=stray, Body=photo("Colin_Powell", 3))  # two versions of it

    with pytest.raises(SystemExit):
        call_command("check_integrity")
    out = capsys.readouterr().out
    assert "unknown faces whose file is missing: 1" in out and "stored files with no row: 1" in out
    call_command("check_integrity", "--repair")
    assert stray not in versions(s3, name)
    assert list(UnknownFace.objects.values_list("pk", flat=True)) == [uuid.UUID(kept[1])]
    call_command("check_integrity")


def test_staged_imports_and_a_reembed_run_on_the_job_worker_from_s3(
    bucket, s3_storage, face_service, photo, client, member, job_worker, settings
):
    s3, name = bucket
    job_worker(**s3_storage)
    client.force_login(member("Managers", "mia"))
    uploads = [upload(photo("Colin_Powell", number), f"powell-{number}.jpg") for number in range(6)]
    assert len(uploads) > settings.PAGES_PHOTOS_PER_REQUEST

    assert client.post("/enrol/", {"name": "Colin Powell", "photos": uploads}).status_code == 302
    job = wait_until_finished(Job.objects.get())
    assert job.state == Job.State.SUCCEEDED, job.error
    photos = list(FaceImage.objects.values_list("image", flat=True))
    assert len(photos) == 6
    # The staged uploads were read from the bucket by the worker, then erased with every version
    # (once the job's end committed).
    deadline = time.monotonic() + 30
    while PendingErasure.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(versions(s3, name)) == sorted(photos)
    assert local_files(settings) == []

    api = key_client("s3")
    before = api.post("/records/match", {"image": upload(photo("Colin_Powell", 7))}).json()["best_match"]
    queued = api.post("/maintenance/rebuild-index?reembed=true")
    assert queued.status_code == 202, queued.json()
    reembed = wait_until_finished(Job.objects.get(pk=queued.json()["id"]))
    assert reembed.state == Job.State.SUCCEEDED, reembed.error
    assert reembed.result["total_vectors"] == 6 and reembed.result["failed"] == []
    after = api.post("/records/match", {"image": upload(photo("Colin_Powell", 7))}).json()["best_match"]
    assert after == before
