"""The admin console: faces as pictures, deletes that erase, re-embedding and the index status."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from jobs.models import Job
from recognition.models import FaceVector, IndexState
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import FaceImage, Person
from records.usecases import enrolment, matching

from .helpers import ALICE, BOB, assert_shows

pytestmark = pytest.mark.django_db

PEOPLE = "/admin/records/person/"
PHOTOS = "/admin/records/faceimage/"
INDEX = "/admin/recognition/indexstate/"
JOBS = "/admin/jobs/job/"
OLD_MODEL = "Facenet512:retinaface:old"


def stored_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_api_keys_are_managed_here(admin_client):
    response = admin_client.get("/admin/")
    assertContains(response, "API keys")
    assertContains(response, "/admin/access/scopedapikey/")
    assert admin_client.get("/admin/access/scopedapikey/add/").status_code == 200
    assert admin_client.get("/admin/rest_framework_api_key/apikey/").status_code == 404  # replaced


def test_a_new_keys_secret_stands_alone_with_a_copy_button(admin_client):
    from access.models import ScopedAPIKey

    response = admin_client.post(
        "/admin/access/scopedapikey/add/", {"name": "door", "scopes": ["match"], "allowed_networks": "", "collections": []},
        follow=True,
    )

    page = response.content.decode()
    secret = re.search(r'<code class="api-key-secret" id="api-key-secret">([^<]+)</code>', page).group(1)
    assert ScopedAPIKey.objects.get_from_key(secret).name == "door"
    assert '<button type="button" class="button" data-copy="#api-key-secret">Copy</button>' in page
    assert "js/copy.js" in page


def test_a_key_made_in_the_admin_has_its_scopes_and_networks_and_shows_its_last_use(admin_client):
    from access.models import ScopedAPIKey

    refused = admin_client.post(
        "/admin/access/scopedapikey/add/", {"name": "door-1", "scopes": ["match"], "allowed_networks": "10.1.2.5/24"}
    )
    assertContains(refused, "did you mean 10.1.2.0/24 or 10.1.2.5/32?")
    assert not ScopedAPIKey.objects.exists()

    admin_client.post(
        "/admin/access/scopedapikey/add/",
        {"name": "door-1", "scopes": ["match", "read"], "allowed_networks": "10.1.2.0/24\n192.0.2.7"},
    )
    key = ScopedAPIKey.objects.get()
    assert (key.scopes, key.allowed_networks) == (["match", "read"], ["10.1.2.0/24", "192.0.2.7/32"])
    key.mark_used()
    listing = admin_client.get("/admin/access/scopedapikey/")
    assertContains(listing, "match, read")
    assertContains(listing, "10.1.2.0/24, 192.0.2.7/32")
    assertContains(listing, "column-last_used_at")
    assertContains(admin_client.get(f"/admin/access/scopedapikey/{key.pk}/change/"), "Last used at")


def test_people_list_thumbnail_name_photos_created(admin_client, enrol, upload):
    alice = enrol(ALICE)
    enrolment.add_photo(alice, upload(ALICE, 1).read())
    response = admin_client.get(PEOPLE)
    assertContains(response, f'src="/photos/{alice.first_image.pk}/face.jpg"')
    assertContains(response, "Colin Powell")
    assertContains(response, '<td class="field-photo_count">2</td>', html=True)
    assertContains(response, "column-created_at")


def test_people_list_costs_the_same_queries_for_many_people(admin_client, enrol):
    enrol(ALICE)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(PEOPLE)
    enrol(BOB)
    Person.objects.bulk_create(Person(name=f"Visitor {n}") for n in range(5))
    with CaptureQueriesContext(connection) as many:
        admin_client.get(PEOPLE)
    assert len(many) == len(one)


def test_people_search_by_name_and_metadata(admin_client, enrol):
    enrol(ALICE, metadata={"team": "Security"})
    enrol(BOB, metadata={"team": "Catering"})
    by_metadata = admin_client.get(PEOPLE, {"q": "security"})
    assertContains(by_metadata, "Colin Powell")
    assertNotContains(by_metadata, "Tony Blair")
    by_name = admin_client.get(PEOPLE, {"q": "blair"})
    assertContains(by_name, "Tony Blair")
    assertNotContains(by_name, "Colin Powell")


def test_person_page_shows_photos_with_face_boxes_not_blobs(admin_client, enrol):
    alice = enrol(ALICE)
    image = alice.first_image
    response = admin_client.get(f"{PEOPLE}{alice.pk}/change/")
    assertContains(response, f'src="/photos/{image.pk}/"')
    assertContains(response, f'viewBox="0 0 {image.width} {image.height}"')
    assertContains(response, "/static/css/faces.css")
    assertContains(response, f'href="/people/{alice.pk}/"')  # where photos are added
    assertNotContains(response, "embedding")


def test_delete_a_person_erases_files_and_vectors(admin_client, enrol, django_capture_on_commit_callbacks):
    alice = enrol(ALICE)
    model_key = alice.first_image.model_key
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{PEOPLE}{alice.pk}/delete/", {"post": "yes"})
    assertRedirects(response, PEOPLE)
    assert not FaceImage.objects.exists()
    assert stored_files() == []
    assert get_vector_index(model_key).count() == 0


def test_bulk_delete_erases_files_and_vectors(admin_client, enrol, upload, django_capture_on_commit_callbacks):
    alice, bob = enrol(ALICE), enrol(BOB)
    enrolment.add_photo(alice, upload(ALICE, 1).read())
    gallery = get_vector_index(get_service().model_key)
    gallery.sync()
    assert gallery.count() == 3 and len(stored_files()) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            PEOPLE, {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk], "post": "yes"}
        )
    assertRedirects(response, PEOPLE)
    assert not Person.objects.exists() and not FaceImage.objects.exists()
    assert stored_files() == []
    assert gallery.count() == 0


def test_delete_one_photo_in_the_inline(admin_client, enrol, upload, django_capture_on_commit_callbacks):
    alice = enrol(ALICE)
    second = enrolment.add_photo(alice, upload(ALICE, 1).read()).image
    images = list(alice.images.all())
    form = {
        "name": "Colin Powell",
        "collection": alice.collection_id,
        "metadata": "{}",
        "images-TOTAL_FORMS": "2",
        "images-INITIAL_FORMS": "2",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        **{f"images-{n}-id": image.pk for n, image in enumerate(images)},
        **{f"images-{n}-person": alice.pk for n in range(2)},
        f"images-{images.index(second)}-DELETE": "on",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{PEOPLE}{alice.pk}/change/", form)
    assertRedirects(response, PEOPLE)
    assert list(alice.images.all()) == [alice.first_image]
    assert len(stored_files()) == 1


def test_moving_a_person_to_another_collection_moves_their_vectors(admin_client, enrol, upload):
    from records.models import Collection

    alice = enrol(ALICE)
    elsewhere = Collection.objects.create(name="site-b")
    [image] = alice.images.all()
    form = {
        "name": "Colin Powell", "collection": elsewhere.pk, "metadata": "{}",
        "images-TOTAL_FORMS": "1", "images-INITIAL_FORMS": "1", "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000", "images-0-id": image.pk, "images-0-person": alice.pk,
    }

    assertRedirects(admin_client.post(f"{PEOPLE}{alice.pk}/change/", form), PEOPLE)

    alice.refresh_from_db()
    probe = upload(ALICE, 1).read()
    assert alice.collection == elsewhere
    assert [v.partition for v in FaceVector.objects.filter(owner_id=alice.pk)] == [elsewhere.partition]
    assert matching.match(probe, 5, collections=[elsewhere]).best_match.id == str(alice.pk)
    assert matching.match(probe, 5, collections=[Collection.objects.get(name="default")]).top_matches == ()


def test_photos_list_thumbnail_person_model_score_and_filter(admin_client, enrol):
    alice, bob = enrol(ALICE), enrol(BOB)
    FaceVector.objects.filter(owner_id=bob.pk).update(model_key=OLD_MODEL)
    response = admin_client.get(PHOTOS)
    assertContains(response, f'src="/photos/{alice.first_image.pk}/face.jpg"')
    assertContains(response, get_service().model_key)
    assertContains(response, "column-detection_score")
    filtered = admin_client.get(PHOTOS, {"face_vector__model_key": OLD_MODEL})
    assertContains(filtered, "Tony Blair")
    assertNotContains(filtered, "Colin Powell")


def test_photo_page_is_read_only_and_shows_the_face(admin_client, enrol):
    image = enrol(ALICE).first_image
    response = admin_client.get(f"{PHOTOS}{image.pk}/change/")
    assertContains(response, f'viewBox="0 0 {image.width} {image.height}"')
    assertContains(response, "512 float32 values")
    assertNotContains(response, 'name="_save"')
    assert admin_client.get(f"{PHOTOS}add/").status_code == 403


def test_reembed_selected_photos(admin_client, enrol):
    image = enrol(ALICE).first_image
    FaceVector.objects.filter(pk=image.face_vector_id).update(model_key=OLD_MODEL)
    response = admin_client.post(PHOTOS, {"action": "reembed", "_selected_action": [image.pk]}, follow=True)
    assert_shows(response, f"Re-embedded 1 photo with {get_service().model_key}.")
    image.refresh_from_db()
    assert image.model_key == get_service().model_key


def test_reembed_of_more_photos_than_a_request_should_take_points_to_the_job(admin_client, enrol, upload, monkeypatch):
    from records import admin as records_admin

    alice = enrol(ALICE)
    enrolment.add_photo(alice, upload(ALICE, 1).read())
    images = list(alice.images.all())
    FaceVector.objects.filter(owner_id=alice.pk).update(model_key=OLD_MODEL)
    monkeypatch.setattr(records_admin, "REEMBED_IN_REQUEST", 1)

    response = admin_client.post(PHOTOS, {"action": "reembed", "_selected_action": [i.pk for i in images]}, follow=True)

    assertContains(response, "2 photos selected: at most 1 are re-embedded here.")
    assertContains(response, f'href="{INDEX}"')
    assert set(FaceVector.objects.filter(owner_id=alice.pk).values_list("model_key", flat=True)) == {OLD_MODEL}


def test_reembed_reports_a_photo_that_now_fails(admin_client, enrol):
    image = enrol(ALICE).first_image
    Path(image.image.path).write_bytes(b"damaged")
    response = admin_client.post(PHOTOS, {"action": "reembed", "_selected_action": [image.pk]}, follow=True)
    assertContains(response, "Re-embedded 0 photos")
    assertContains(response, f"Photo {image.pk} kept its old face data")


def test_index_status_shows_vectors_generation_and_staleness(admin_client, enrol):
    enrol(ALICE)
    model_key = get_service().model_key
    get_vector_index(model_key).sync()
    enrol(BOB)  # after this process last caught up
    IndexState.objects.create(model_key=OLD_MODEL, generation=5, epoch=2)
    response = admin_client.get(INDEX)
    state = IndexState.objects.get(model_key=model_key)
    assertContains(response, model_key)
    assertContains(response, '<td class="field-vectors">2</td>', html=True)
    assertContains(response, f'<td class="field-generation">{state.generation}</td>', html=True)
    assertContains(response, "active model")
    assertContains(response, f"1 vector at generation {state.generation - 1}, behind: catches up on its next search")
    assertContains(response, "stale: embedded by another model")
    assertContains(response, "not loaded")  # the old model's index
    assertContains(response, "Rebuild the index from the database")
    get_vector_index(model_key).sync()
    assertContains(admin_client.get(INDEX), f"2 vectors at generation {state.generation}, in step")


def test_rebuild_the_index(admin_client, enrol):
    enrol(ALICE)
    state = IndexState.objects.get()
    response = admin_client.post(f"{INDEX}rebuild/", follow=True)
    assert_shows(response, f"Rebuilt the {state.model_key} index: 1 vector in")
    state.refresh_from_db()
    assert state.epoch == 1 and state.rebuilt_at is not None


def test_reembed_everything_is_a_job_named_in_the_message_and_listed(admin_client, enrol, settings):
    # Run as queued, in this process: tests/api/test_jobs.py runs jobs in a real worker.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    image = enrol(ALICE).first_image
    FaceVector.objects.filter(pk=image.face_vector_id).update(model_key=OLD_MODEL)

    response = admin_client.post(f"{INDEX}rebuild/", {"reembed": "on"}, follow=True)

    job = Job.objects.get()
    assert_shows(response, f"Queued job {job.pk} to re-embed every photo (1) with {get_service().model_key}, then rebuild.")
    assertContains(response, f'href="/admin/jobs/job/{job.pk}/change/"')
    assert job.state == Job.State.SUCCEEDED and job.requester == "admin"
    image.refresh_from_db()
    assert image.model_key == get_service().model_key
    listing = admin_client.get(JOBS)
    assertContains(listing, '<td class="field-progress">1 / 1</td>', html=True)
    assertContains(listing, '<td class="field-state">succeeded</td>', html=True)
    assertContains(admin_client.get(f"{JOBS}{job.pk}/change/"), "total_vectors")
    assert admin_client.get(f"{JOBS}add/").status_code == 403  # read-only: the worker writes them


def test_a_second_reembed_is_refused_naming_the_first_and_the_index_page_shows_it(admin_client, enrol):
    enrol(ALICE)
    admin_client.post(f"{INDEX}rebuild/", {"reembed": "on"})  # no worker here: it stays queued
    first = Job.objects.get()

    response = admin_client.post(f"{INDEX}rebuild/", {"reembed": "on"}, follow=True)

    assert_shows(response, f"A re-embed of {get_service().model_key} is already queued: job {first.pk}.")
    assert Job.objects.count() == 1
    index = admin_client.get(INDEX)
    assertContains(index, f'<a href="/admin/jobs/job/{first.pk}/change/">{first}</a>: queued, 0 / 1 photos', html=True)
    assertContains(index, f'href="{JOBS}"')


def test_rebuild_needs_a_post_and_the_permission(admin_client, client, django_user_model):
    assert admin_client.get(f"{INDEX}rebuild/").status_code == 405
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(viewer)
    assert client.post(f"{INDEX}rebuild/").status_code == 403
