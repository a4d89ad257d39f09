"""Merging one record into another (records/usecases/merging.py, the admin's "Possible duplicates" page), on
real photos: the same person enrolled twice becomes one record that every worker's index names."""

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from pytest_django.asserts import assertContains, assertRedirects

from audit.models import AuditEvent
from recognition.models import FaceVector
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.maintenance import reembed_images
from records.models import Collection, FaceImage, PendingErasure, Person
from records.usecases import analysis, enrolment, matching
from records.usecases.merging import MergeRefused, merge_people
from tests.keys import key_client

from .helpers import ALICE, BOB, assert_shows

pytestmark = pytest.mark.django_db

# An older model's key: a photo not re-embedded since a model change keeps its vector under it.
OLD_MODEL = "Old-Model:detector:v0"


def _twice(photo, collection=None):
    """Tony Blair enrolled as two records (three photos on the second)."""
    kept = enrolment.enrol("Tony Blair", photo(BOB, 0), collection=collection).person
    removed = enrolment.enrol("T. Blair", photo(BOB, 1), collection=collection).person
    enrolment.add_photo(removed, photo(BOB, 2))
    return kept, removed


def test_a_merged_persons_photo_names_the_kept_record_on_every_worker(vector_backend, photo, django_capture_on_commit_callbacks):
    kept, removed = _twice(photo)
    model_key = get_service().model_key
    # Another worker, its index loaded while both records existed: it learns of the merge only
    # from the database's change log.
    other_worker = type(get_vector_index(model_key))(model_key)
    probe = analysis.analyse_photo(photo(BOB, 1)).primary.embedding
    assert other_worker.search(probe, 2)[0].person_id == removed.pk

    with django_capture_on_commit_callbacks(execute=True):
        merged = merge_people(kept.pk, removed.pk)

    assert (merged.kept, merged.removed_id, merged.photos_moved) == (kept, removed.pk, 2)
    assert not Person.objects.filter(pk=removed.pk).exists()
    assert kept.images.count() == 3
    result = matching.match(photo(BOB, 5), top_k=5)
    assert result.best_match.id == str(kept.pk)
    assert [candidate.id for candidate in result.top_matches] == [str(kept.pk)]
    for worker in (get_vector_index(model_key), other_worker):
        assert [n.person_id for n in worker.search(probe, 5)] == [kept.pk]
        assert worker.vector_ids() == set(FaceVector.objects.filter(model_key=model_key).values_list("vector_id", flat=True))
    assert not FaceVector.objects.filter(owner_id=removed.pk).exists()
    assert not PendingErasure.objects.exists()  # the snapshots were written again without the old vectors
    # Each moved photo's file is where it was, and still a photo of the kept record.
    for image in kept.images.all():
        with image.image.open("rb") as handle:
            assert handle.read(2) == b"\xff\xd8"


def test_vectors_of_every_model_key_move_and_the_merge_is_audited(photo, django_capture_on_commit_callbacks):
    kept, removed = _twice(photo)
    old = removed.images.order_by("created_at").last()
    old_vector = (np.ones(128) / np.sqrt(128)).astype(np.float32)
    old.replace_vector(OLD_MODEL, old_vector, removed.partition)

    with django_capture_on_commit_callbacks(execute=True):
        merge_people(kept.pk, removed.pk)

    moved = FaceImage.objects.select_related("face_vector").get(pk=old.pk)
    assert moved.person_id == kept.pk
    assert (moved.face_vector.model_key, moved.face_vector.owner_id) == (OLD_MODEL, kept.pk)
    assert np.array_equal(moved.vector, old_vector)
    assert set(FaceVector.objects.values_list("owner_id", flat=True)) == {kept.pk}
    assert [n.person_id for n in get_vector_index(OLD_MODEL).search(old_vector, 3)] == [kept.pk]
    merge_event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE_PERSON, target=str(kept.pk))
    assert merge_event.detail["merged_from"] == str(removed.pk)
    assert len(merge_event.detail["photos"]) == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETE_PERSON, target=str(removed.pk)).exists()
    assert "Blair" not in str(list(AuditEvent.objects.values("target", "detail")))  # ids only


def test_records_of_two_collections_are_not_merged_and_keys_see_only_their_own(photo):
    site_a, site_b = (Collection.objects.create(name=name) for name in ("site-a", "site-b"))
    kept, removed = _twice(photo, site_a)
    elsewhere = enrolment.enrol("Tony Blair", photo(BOB, 3), collection=site_b).person

    with pytest.raises(MergeRefused, match="two collections"):
        merge_people(kept.pk, elsewhere.pk)
    assert elsewhere.images.count() == 1 and Person.objects.count() == 3

    merge_people(kept.pk, removed.pk)
    for collection, named in (("site-a", kept), ("site-b", elsewhere)):
        answer = key_client(collection, collections=[collection]).post("/records/match", {"image": _upload(photo(BOB, 5)), "top_k": 5})
        assert answer.status_code == 200, answer.content
        assert [c["id"] for c in answer.json()["top_matches"]] == [str(named.pk)]


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("probe.jpg", data, content_type="image/jpeg")


def test_a_record_into_itself_or_one_gone_is_refused(photo):
    kept, removed = _twice(photo)
    with pytest.raises(MergeRefused, match="into itself"):
        merge_people(kept.pk, kept.pk)
    removed_id = removed.pk
    removed.delete()
    with pytest.raises(MergeRefused, match="no longer exists"):
        merge_people(kept.pk, removed_id)
    assert kept.images.count() == 1


def test_a_photo_merged_while_it_is_reembedded_gets_the_kept_records_vector(photo, monkeypatch):
    """A re-embed reads its photos a page at a time, then analyses each: one merged during its
    analysis gets its new vector under its new owner (its row locked and read again), not under
    the record that is gone."""
    kept, removed = _twice(photo)
    service = get_service()
    analyse = service.analyse

    def merged_meanwhile(*args, **kwargs):
        if Person.objects.filter(pk=removed.pk).exists():
            merge_people(kept.pk, removed.pk)
        return analyse(*args, **kwargs)

    monkeypatch.setattr(service, "analyse", merged_meanwhile)
    outcome = reembed_images(FaceImage.objects.filter(person=removed))
    monkeypatch.undo()

    assert not outcome.failures and not outcome.deleted_meanwhile
    assert set(FaceVector.objects.values_list("owner_id", flat=True)) == {kept.pk}
    assert matching.match(photo(BOB, 2), top_k=1).best_match.id == str(kept.pk)


# --- the admin's pages ----------------------------------------------------------------------------


def test_the_duplicates_page_merges_after_a_confirmation(admin_client, photo, django_capture_on_commit_callbacks):
    kept, removed = _twice(photo)
    enrolment.enrol("Colin Powell", photo(ALICE, 0))

    listed = admin_client.get("/admin/records/person/duplicates/")
    confirm_url = f"/admin/records/person/duplicates/merge/?keep={kept.pk}&amp;remove={removed.pk}"
    assert confirm_url in listed.content.decode()

    asked = admin_client.get(f"/admin/records/person/duplicates/merge/?keep={kept.pk}&remove={removed.pk}")
    assertContains(asked, "Every photo of <strong>T. Blair</strong> (2) moves to <strong>Tony Blair</strong>")
    assert_shows(asked, "Yes, merge T. Blair into Tony Blair")
    assert Person.objects.count() == 3  # nothing merged by looking

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post("/admin/records/person/duplicates/merge/", {"keep": kept.pk, "remove": removed.pk}, follow=True)
    assertRedirects(done, f"/admin/records/person/{kept.pk}/change/")
    assert_shows(done, f"Merged: 2 photos moved to Tony Blair; the other record ({removed.pk}) is erased.")
    assert not Person.objects.filter(pk=removed.pk).exists()
    assert admin_client.get("/admin/records/person/duplicates/").context["pairs"] == []

    again = admin_client.post("/admin/records/person/duplicates/merge/", {"keep": kept.pk, "remove": removed.pk}, follow=True)
    assert_shows(again, "Those two records cannot be merged: one of them no longer exists (deleted or merged meanwhile).")


def test_a_refused_merge_says_why_on_the_duplicates_page(admin_client, photo):
    kept = enrolment.enrol("Tony Blair", photo(BOB, 0)).person
    elsewhere = enrolment.enrol("Tony Blair", photo(BOB, 1), collection=Collection.objects.create(name="site-b")).person
    for query in (f"keep={kept.pk}&remove={kept.pk}", f"keep={kept.pk}&remove=not-an-id", f"keep={kept.pk}"):
        shown = admin_client.get(f"/admin/records/person/duplicates/merge/?{query}", follow=True)
        assertRedirects(shown, "/admin/records/person/duplicates/")
        assert_shows(shown, "Those two records cannot be merged: ")
    refused = admin_client.post("/admin/records/person/duplicates/merge/", {"keep": kept.pk, "remove": elsewhere.pk}, follow=True)
    assert_shows(refused, "records of two collections are not merged. Move one first.")
    assert Person.objects.count() == 2


def test_merging_needs_change_and_delete_of_people(client, member, photo):
    kept, removed = _twice(photo)
    url = f"/admin/records/person/duplicates/merge/?keep={kept.pk}&remove={removed.pk}"
    viewer = member("Viewers", "vera", is_staff=True)
    client.force_login(viewer)

    listed = client.get("/admin/records/person/duplicates/")
    assert listed.status_code == 200 and "Keep the first" not in listed.content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"keep": kept.pk, "remove": removed.pk}).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="change_person"))
    client.force_login(type(viewer).objects.get(pk=viewer.pk))
    assert client.post(url, {"keep": kept.pk, "remove": removed.pk}).status_code == 403  # not delete_person
    assert Person.objects.count() == 2

    client.force_login(member("Managers", "mona", is_staff=True))
    assert "Keep the first" in client.get("/admin/records/person/duplicates/").content.decode()
    assert client.post(url, {"keep": kept.pk, "remove": removed.pk}).status_code == 302
    assert list(Person.objects.all()) == [kept]
