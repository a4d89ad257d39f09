"""Log in, the home page, browsing people, their photos, removing and deleting."""

import io
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from recognition.models import FaceVector, RemovedVector
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import Collection, FaceImage, Person
from records.usecases import enrolment

from .helpers import ALICE, BOB, STRANGER, assert_shows

pytestmark = pytest.mark.django_db


def stored_files() -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


# --- Logging in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", "/enrol/", "/match/", "/people/", f"/people/{uuid.uuid4()}/", f"/people/{uuid.uuid4()}/delete/",
     f"/photos/{uuid.uuid4()}/", f"/photos/{uuid.uuid4()}/face.jpg"],
)
def test_every_page_and_photo_needs_a_login(client, url):
    assertRedirects(client.get(url), f"/accounts/login/?next={url}", fetch_redirect_response=False)


def test_log_in_and_out(client, user):
    assertContains(client.get("/accounts/login/"), 'name="password"')
    response = client.post("/accounts/login/", {"username": "operator", "password": "a long test password"})
    assertRedirects(response, "/")
    assertContains(client.get("/"), "operator")
    logged_out = client.post("/accounts/logout/", follow=True)
    assertRedirects(logged_out, "/accounts/login/")
    assert_shows(logged_out, "You are logged out.")
    assert client.get("/").status_code == 302


def test_a_wrong_password_says_so(client, user):
    response = client.post("/accounts/login/", {"username": "operator", "password": "wrong"})
    assert_shows(response, "Please enter a correct username and password.")


def test_logging_in_returns_to_the_page_asked_for(client, user):
    credentials = {"username": "operator", "password": "a long test password"}
    response = client.post("/accounts/login/?next=/match/", {**credentials, "next": "/match/"})
    assertRedirects(response, "/match/")


# --- Home ---------------------------------------------------------------------------------------


def test_home_says_what_the_service_holds(operator, enrol):
    enrol(ALICE)
    enrol(BOB)
    response = operator.get("/")
    assert (response.context["people"], response.context["photos"], response.context["index_size"]) == (2, 2, 2)
    assertContains(response, get_service().model_key)
    assertContains(response, "2 vectors")
    for link in ('href="/enrol/"', 'href="/match/"', 'href="/people/"', 'href="/docs"'):
        assertContains(response, link)
    assertNotContains(response, 'href="/admin/"')  # not staff


def test_home_links_staff_to_the_admin(admin_client):
    assertContains(admin_client.get("/"), 'href="/admin/"')


def test_home_warns_about_photos_of_another_model(admin_client, enrol):
    enrol(ALICE)
    FaceVector.objects.update(model_key="Facenet512:retinaface:old")
    response = admin_client.get("/")
    assert_shows(response, "1 photo was embedded by another model")
    assertContains(response, reverse("admin:recognition_indexstate_changelist"))


# --- People -------------------------------------------------------------------------------------


def test_people_lists_names_thumbnails_and_photo_counts(operator, enrol, upload):
    alice = enrol(ALICE)
    enrolment.add_photo(alice, upload(ALICE, 1).read())
    enrol(BOB)
    response = operator.get("/people/")
    assertContains(response, "Colin Powell")
    assertContains(response, "Tony Blair")
    assertContains(response, "2 photos")
    assertContains(response, "1 photo ")
    assertContains(response, reverse("face-thumbnail", args=[alice.first_image.pk]))


def test_people_search_by_name(operator):
    Person.objects.create(name="Ada Lovelace")
    Person.objects.create(name="Grace Hopper")
    response = operator.get("/people/", {"q": "lovelace"})
    assertContains(response, "Ada Lovelace")
    assertNotContains(response, "Grace Hopper")
    assert_shows(operator.get("/people/", {"q": "nobody"}), "No name contains “nobody”.")


def test_people_filter_by_collection(operator):
    site_a = Collection.objects.create(name="site-a")
    Person.objects.create(name="Ada Lovelace", collection=site_a)
    Person.objects.create(name="Grace Hopper")
    response = operator.get("/people/", {"collection": "site-a"})
    assertContains(response, "Ada Lovelace")
    assertContains(response, "site-a ·")
    assertNotContains(response, "Grace Hopper")
    assertContains(response, '<option value="site-a" selected>site-a</option>', html=True)
    assertContains(operator.get("/people/"), "Grace Hopper")
    assert_shows(operator.get("/people/", {"collection": "nowhere"}), "Nobody in nowhere.")


def test_people_are_paginated_and_pages_keep_the_search(operator):
    Person.objects.bulk_create(Person(name=f"Visitor {n:02}") for n in range(30))
    first = operator.get("/people/", {"q": "visitor"})
    assert len(first.context["people"]) == 24
    assertContains(first, "Page 1 of 2")
    assertContains(first, "?q=visitor&amp;page=2")
    assert len(operator.get("/people/", {"q": "visitor", "page": 2}).context["people"]) == 6


def test_people_page_costs_the_same_queries_for_many_people(operator, enrol):
    enrol(ALICE)
    with CaptureQueriesContext(connection) as one:
        operator.get("/people/")
    enrol(BOB)
    Person.objects.bulk_create(Person(name=f"Visitor {n}") for n in range(5))
    with CaptureQueriesContext(connection) as many:
        operator.get("/people/")
    assert len(many) == len(one)


def test_nobody_enrolled_yet(operator):
    assert_shows(operator.get("/people/"), "Nobody is enrolled yet.")


# --- A person's page ----------------------------------------------------------------------------


def test_person_page_shows_photos_with_the_face_outlined_and_metadata(operator, enrol):
    person = enrol(ALICE, metadata={"team": "Security", "badge": "1042"})
    image = person.first_image
    response = operator.get(f"/people/{person.pk}/")
    assertContains(response, "<h1>Colin Powell</h1>", html=True)
    assertContains(response, f'src="/photos/{image.pk}/"')
    x, y, w, h = image.face_box
    assertContains(response, f'viewBox="0 0 {image.width} {image.height}"')
    assertContains(response, f'<rect x="{x}" y="{y}" width="{w}" height="{h}"></rect>', html=True)
    assertContains(response, "<dt>team</dt><dd>Security</dd>", html=True)
    assertContains(response, f'action="/people/{person.pk}/photos/{image.pk}/remove/"')
    assertContains(response, f'href="/people/{person.pk}/delete/"')


def test_a_deleted_person_is_a_404_page_of_the_site(operator, enrol):
    person = enrol(ALICE)
    operator.post(f"/people/{person.pk}/delete/")
    response = operator.get(f"/people/{person.pk}/")
    assert response.status_code == 404
    assertContains(response, "<h1>Not found</h1>", status_code=404, html=True)
    assertContains(response, 'class="topbar"', status_code=404)
    assertContains(response, '<a href="/people/">The people</a>', status_code=404, html=True)


def test_a_403_is_logged_without_a_traceback(client, member, caplog):
    client.force_login(member("Viewers"))
    with caplog.at_level("WARNING", logger="django.request"):
        assert client.get("/enrol/").status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage().startswith("Forbidden") and record.exc_info is None and not record.exc_text


def test_add_a_photo(operator, enrol, upload):
    person = enrol(ALICE)
    response = operator.post(f"/people/{person.pk}/", {"photos": [upload(ALICE, 1)]}, follow=True)
    assertRedirects(response, f"/people/{person.pk}/")
    assert_shows(response, "Added 1 photo to Colin Powell.")
    assert person.images.count() == 2


def test_a_photo_of_someone_else_is_refused_until_confirmed(operator, enrol, upload):
    serena = enrol(STRANGER)

    refused = operator.post(f"/people/{serena.pk}/", {"photos": [upload(BOB, 0)]})

    assert refused.status_code == 200 and serena.images.count() == 1
    assert_shows(refused, "Tony_Blair_0.jpg: This face does not look like the record's person")
    assert_shows(refused, "1 photo did not look like Serena Williams and was not stored.")
    assertContains(refused, 'name="allow_mismatch"')
    confirmed = operator.post(f"/people/{serena.pk}/", {"photos": [upload(BOB, 0)], "allow_mismatch": "on"}, follow=True)
    assertRedirects(confirmed, f"/people/{serena.pk}/")
    assert_shows(confirmed, "Added 1 photo to Serena Williams.")
    assert serena.images.count() == 2
    assert AuditEvent.objects.get(action=AuditEvent.Action.ADD_PHOTO, status=201).detail["mismatch_allowed"] is True


def test_the_confirmation_is_asked_only_when_a_photo_did_not_look_like_them(operator, enrol, upload):
    serena = enrol(STRANGER)
    page = operator.get(f"/people/{serena.pk}/")
    assertNotContains(page, 'name="allow_mismatch"')
    added = operator.post(f"/people/{serena.pk}/", {"photos": [upload(STRANGER, 1), upload(BOB, 0)]}, follow=True)
    assert_shows(added, "Added 1 photo to Serena Williams.")
    assert_shows(added, "Not added: Tony_Blair_0.jpg: This face does not look like the record's person")


def test_add_a_photo_without_a_face_says_so(operator, enrol, blank_photo):
    person = enrol(ALICE)
    response = operator.post(f"/people/{person.pk}/", {"photos": [blank_photo]})
    assert_shows(response, "blank.png: No face was detected in the image.")
    assert person.images.count() == 1


def test_add_a_group_photo_strictly_is_refused(operator, enrol, group_photo):
    person = enrol(ALICE)
    response = operator.post(f"/people/{person.pk}/", {"photos": [group_photo], "strict": "on"})
    assert_shows(response, "kit_with_rose.jpg: 2 faces were detected; strict enrolment needs exactly one.")
    assert person.images.count() == 1


def test_add_nothing_says_so(operator, enrol):
    person = enrol(ALICE)
    assert_shows(operator.post(f"/people/{person.pk}/", {}), "This field is required.")


def test_remove_a_photo_erases_its_file_and_vector(operator, enrol, upload, django_capture_on_commit_callbacks):
    person = enrol(ALICE)
    second = enrolment.add_photo(person, upload(ALICE, 1).read()).image
    second_file = Path(second.image.path)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/people/{person.pk}/photos/{second.pk}/remove/", follow=True)
    assert_shows(response, "The photo was removed, with its face data.")
    assert not second_file.exists()
    assert list(person.images.all()) == [person.first_image]
    assert RemovedVector.objects.filter(vector_id=second.vector_id).exists()
    assert second.vector_id not in get_vector_index(second.model_key).vector_ids()


def test_removing_the_last_photo_warns(operator, enrol):
    person = enrol(ALICE)
    response = operator.post(f"/people/{person.pk}/photos/{person.first_image.pk}/remove/", follow=True)
    assert_shows(response, "Colin Powell has no photos left and cannot be recognised until you add one.")


def test_remove_needs_a_post_and_the_right_person(operator, enrol):
    alice, bob = enrol(ALICE), enrol(BOB)
    image = alice.first_image
    assert operator.get(f"/people/{alice.pk}/photos/{image.pk}/remove/").status_code == 405
    assert operator.post(f"/people/{bob.pk}/photos/{image.pk}/remove/").status_code == 404
    assert FaceImage.objects.filter(pk=image.pk).exists()


def test_delete_asks_first_and_says_what_goes(operator, enrol):
    person = enrol(ALICE)
    response = operator.get(f"/people/{person.pk}/delete/")
    assert_shows(response, "their 1 photo")
    assertContains(response, "the face data computed from it")
    assertContains(response, "This cannot be undone.")
    assert Person.objects.filter(pk=person.pk).exists()


def test_delete_erases_the_person_their_photos_and_vectors(operator, enrol, django_capture_on_commit_callbacks):
    person = enrol(ALICE)
    image = person.first_image
    assert stored_files()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/people/{person.pk}/delete/", follow=True)
    assertRedirects(response, "/people/")
    assert_shows(response, "Colin Powell was deleted, with their photos and face data.")
    assert not Person.objects.exists() and not FaceImage.objects.exists()
    assert stored_files() == []
    assert len(get_vector_index(image.model_key).index) == 0


# --- Stored photos ------------------------------------------------------------------------------


def test_photos_are_served_to_logged_in_users(operator, enrol, photo):
    image = enrol(ALICE).first_image
    response = operator.get(f"/photos/{image.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]  # no browser or proxy keeps a photo
    assert b"".join(response.streaming_content) == Path(image.image.path).read_bytes()


def test_face_thumbnail_is_a_small_crop_of_the_face(operator, enrol):
    image = enrol(ALICE).first_image
    response = operator.get(f"/photos/{image.pk}/face.jpg")
    assert response["Content-Type"] == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(response.content))
    width, height = thumbnail.size
    assert width == height <= 160
    assert width < image.width


def test_media_files_are_not_public(client, enrol):
    image = enrol(ALICE).first_image
    assert client.get(f"/{settings.MEDIA_URL}{image.image.name}").status_code == 404


def test_a_photo_whose_file_went_missing_is_404(operator, enrol):
    image = enrol(ALICE).first_image
    Path(image.image.path).unlink()
    assert operator.get(f"/photos/{image.pk}/").status_code == 404
    assert operator.get(f"/photos/{image.pk}/face.jpg").status_code == 404


def test_unknown_photo_is_404(operator):
    assert operator.get(f"/photos/{uuid.uuid4()}/").status_code == 404
    assert operator.get(f"/photos/{uuid.uuid4()}/face.jpg").status_code == 404


def test_a_photo_is_checked_against_the_person_on_their_page(operator, enrol, upload):
    person = enrol(ALICE)
    page = operator.get(f"/people/{person.pk}/")
    assertContains(page, "Check a photo against this person")
    assertContains(page, f'action="/people/{person.pk}/verify/#verify"')

    same = operator.post(f"/people/{person.pk}/verify/", {"photo": upload(ALICE, 1)})
    assert same.context["verification"].verified is True
    assert_shows(same, f"The same person as {person.name}")
    assertContains(same, "1:1 threshold 0.7522")

    other = operator.post(f"/people/{person.pk}/verify/", {"photo": upload(BOB)})
    assert other.context["verification"].verified is False
    assert_shows(other, f"Not {person.name}")


def test_checking_a_photo_without_a_face_says_so(operator, enrol, blank_photo):
    person = enrol(ALICE)
    response = operator.post(f"/people/{person.pk}/verify/", {"photo": blank_photo})
    assert response.context["verification"] is None
    assert_shows(response, "No face was detected in the image.")


def test_favicon_ico_is_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assertRedirects(response, "/static/favicon.svg", status_code=301, fetch_redirect_response=False)
    assert (Path(settings.BASE_DIR) / "static" / "favicon.svg").read_text().startswith("<svg")


def test_rename_and_move_to_another_collection_on_the_person_page(operator, enrol):
    person = enrol(ALICE)
    Collection.objects.create(name="site-b")
    page = operator.get(f"/people/{person.pk}/")
    assertContains(page, f'action="/people/{person.pk}/change/#change"')

    response = operator.post(f"/people/{person.pk}/change/", {"name": "C. Powell", "collection": "site-b"}, follow=True)

    assert_shows(response, "Saved: C. Powell, in site-b.")
    person.refresh_from_db()
    assert (person.name, person.collection.name) == ("C. Powell", "site-b")
    assert {image.face_vector.partition for image in person.images.all()} == {person.collection.partition}
    refused = operator.post(f"/people/{person.pk}/change/", {"name": "", "collection": "nowhere"})
    assert refused.status_code == 200 and set(refused.context["change_form"].errors) == {"name", "collection"}
