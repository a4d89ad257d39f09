"""Races answered, not crashed: something deleted while a request was busy with it is a 404 or is
skipped and counted, never a 500, and leaves nothing behind."""

from pathlib import Path

import pytest

from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import Collection, FaceImage, Person
from records.usecases import analysis, people

from .samples import upload

pytestmark = pytest.mark.django_db


def media_files(settings) -> list[Path]:
    return sorted(path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())


@pytest.fixture
def deleted_during_analysis(monkeypatch):
    """deleted_during_analysis(person): the next photo analysed finds `person` deleted by another
    request once the analysis is done, as a concurrent DELETE committing meanwhile would."""

    def arrange(person: Person):
        real_analyse = analysis.analyse_photo

        def analyse_then_delete(data, **options):
            found = real_analyse(data, **options)
            Person.objects.filter(pk=person.pk).delete()
            return found

        monkeypatch.setattr(analysis, "analyse_photo", analyse_then_delete)

    return arrange


def test_adding_a_photo_to_a_person_deleted_meanwhile_is_404(
    api, bush, photo, deleted_during_analysis, settings, django_capture_on_commit_callbacks
):
    deleted_during_analysis(bush)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/records/{bush.pk}/images", {"image": upload(photo("George_W_Bush", 1))})

    assert response.status_code == 404, response.json()
    assert response.json() == {
        "detail": f"No record with id '{bush.pk}': it was deleted while the photo was analysed."
    }
    assert not FaceImage.objects.exists()
    assert media_files(settings) == []


def test_the_person_page_answers_404_too(
    client, member, bush, photo, deleted_during_analysis, settings, django_capture_on_commit_callbacks
):
    client.force_login(member("Managers"))
    deleted_during_analysis(bush)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/people/{bush.pk}/", {"photos": [upload(photo("George_W_Bush", 1))]})

    assert response.status_code == 404
    assert not FaceImage.objects.exists()
    assert media_files(settings) == []


def test_reembedding_skips_and_counts_photos_deleted_meanwhile(api, bush, add_photo, photo, monkeypatch, settings):
    first = bush.first_image
    erased = add_photo(bush, photo("George_W_Bush", 1))  # row and file gone before it is read
    row_gone = add_photo(bush, photo("George_W_Bush", 2))  # row gone while it is analysed
    service = get_service()
    real_analyse = service.analyse
    calls = []

    def analyse(image):
        calls.append(image.sha256)
        if len(calls) == 1:  # another request deletes both while the first is analysed
            erased.delete()
            erased.image.storage.delete(erased.image.name)  # its delete's on-commit erasure
        if len(calls) == 2:
            FaceImage.objects.filter(pk=row_gone.pk).delete()
        return real_analyse(image)

    monkeypatch.setattr(service, "analyse", analyse)

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}  # run as queued

    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 202, response.json()
    result = response.json()["result"]
    assert result["failed"] == [] and result["deleted_meanwhile"] == 2
    assert result["total_vectors"] == 1
    assert list(FaceImage.objects.values_list("pk", flat=True)) == [first.pk]
    assert len(calls) == 2  # the erased photo was never decoded


def test_a_record_moved_while_its_photo_is_reembedded_keeps_its_vector_in_its_new_collection(
    api, bush, monkeypatch, settings
):
    """The re-embed reads a page of photos, then analyses each: the record moving to another
    collection in between must not get its new vector in the partition it left (where a key of
    that collection would find them)."""
    elsewhere = Collection.objects.create(name="elsewhere")
    service = get_service()
    real_analyse = service.analyse

    def analyse(image):
        analysis = real_analyse(image)
        people.change_record(Person.objects.get(pk=bush.pk), {}, elsewhere)  # another request, meanwhile
        return analysis

    monkeypatch.setattr(service, "analyse", analyse)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}  # run as queued

    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 202, response.json()
    vector = FaceImage.objects.select_related("face_vector").get(person=bush).face_vector
    assert vector.partition == elsewhere.partition
    [found] = get_vector_index(service.model_key).search(vector.vector, 1, partitions=[elsewhere.partition])
    assert found.person_id == bush.pk
    assert get_vector_index(service.model_key).search(vector.vector, 1, partitions=[Collection.default().partition]) == []


def test_downloading_a_photo_whose_file_is_missing_is_404_on_the_api_and_the_pages(
    api, client, member, bush
):
    image = bush.first_image
    Path(image.image.path).unlink()
    client.force_login(member("Managers"))

    response = api.get(f"/records/{bush.pk}/images/{image.pk}")

    assert response.status_code == 404
    assert response.json() == {"detail": "The file of this photo is missing."}
    assert client.get(f"/photos/{image.pk}/").status_code == 404
    assert client.get(f"/photos/{image.pk}/face.jpg").status_code == 404
