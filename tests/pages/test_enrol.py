"""The enrol page: the form, what it stores through the service, and every message it shows."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.asserts import assertContains, assertRedirects

from records.models import Collection, FaceImage, Person
from tests.images import blurred

from .helpers import ALICE, assert_shows

pytestmark = pytest.mark.django_db


def test_the_form_takes_several_photos_with_a_preview(operator):
    response = operator.get("/enrol/")
    assertContains(response, "csrfmiddlewaretoken")
    assertContains(response, 'enctype="multipart/form-data"')
    assertContains(response, "data-drop-zone")
    assertContains(response, 'accept="image/*"')
    assertContains(response, "multiple")
    assertContains(response, "up to 10.0\xa0MB")


def test_enrol_from_one_photo_shows_their_page(operator, upload):
    response = operator.post(
        "/enrol/", {"name": "Colin Powell", "metadata": "team: Security\nbadge: 1042", "photos": [upload(ALICE)]}
    )
    person = Person.objects.get()
    assertRedirects(response, f"/people/{person.pk}/", fetch_redirect_response=False)
    assert person.metadata == {"team": "Security", "badge": "1042"}
    image = person.images.get()
    page = operator.get(response.url)
    assert_shows(page, "Enrolled Colin Powell from 1 photo.")
    assertContains(page, f'<rect x="{image.face_box[0]}" y="{image.face_box[1]}"', count=1)


def test_enrol_into_a_collection_or_default(operator, upload):
    Collection.objects.create(name="site-a")
    form = operator.get("/enrol/")
    assertContains(form, '<option value="site-a">site-a</option>', html=True)
    assertContains(form, ">default</option>", count=1)  # the empty choice, not listed twice

    operator.post("/enrol/", {"name": "Colin Powell", "collection": "site-a", "photos": [upload(ALICE)]})
    operator.post("/enrol/", {"name": "Tony Blair", "photos": [upload("Tony_Blair")]})
    refused = operator.post("/enrol/", {"name": "X", "collection": "nowhere", "photos": [upload(ALICE, 1)]})

    powell = Person.objects.get(name="Colin Powell")
    assert powell.collection.name == "site-a"
    assertContains(operator.get(f"/people/{powell.pk}/"), '/people/?collection=site-a">site-a</a>')
    assert Person.objects.get(name="Tony Blair").collection.name == "default"
    assert refused.status_code == 200 and "collection" in refused.context["form"].errors
    assert not Person.objects.filter(name="X").exists()


def test_enrol_from_several_photos_with_json_metadata(operator, upload):
    response = operator.post(
        "/enrol/",
        {
            "name": "Colin Powell",
            "metadata": '{"team": "Security", "floor": 3}',
            "photos": [upload(ALICE, 0), upload(ALICE, 1)],
        },
        follow=True,
    )
    person = Person.objects.get()
    assert person.images.count() == 2
    assert person.metadata == {"team": "Security", "floor": 3}
    assert_shows(response, "Enrolled Colin Powell from 2 photos.")


def test_a_group_photo_enrols_the_largest_face_and_says_so(operator, group_photo):
    response = operator.post("/enrol/", {"name": "Kit Harington", "photos": [group_photo]}, follow=True)
    assert Person.objects.get().images.get().faces_detected == 2
    assert_shows(response, "kit_with_rose.jpg: 2 faces were detected; the largest one was used.")


def test_a_photo_that_fails_beside_a_good_one_is_reported(operator, upload, blank_photo):
    response = operator.post("/enrol/", {"name": "Colin Powell", "photos": [blank_photo, upload(ALICE)]}, follow=True)
    assert Person.objects.get().images.count() == 1
    assert_shows(response, "Enrolled Colin Powell from 1 photo.")
    assert_shows(response, "Not added: blank.png: No face was detected in the image.")


def refused(operator, *photos, **fields):
    """Post photos that the service refuses: the form comes back and nothing is stored."""
    response = operator.post("/enrol/", {"name": "Someone", "photos": list(photos), **fields})
    assert response.status_code == 200
    assert not Person.objects.exists() and not FaceImage.objects.exists()
    return response


def test_no_face(operator, blank_photo):
    assert_shows(refused(operator, blank_photo), "blank.png: No face was detected in the image.")


def test_several_faces_when_strict(operator, group_photo):
    response = refused(operator, group_photo, strict="on")
    assert_shows(response, "kit_with_rose.jpg: 2 faces were detected; strict enrolment needs exactly one.")


def test_unreadable_file(operator):
    photo = SimpleUploadedFile("notes.jpg", b"these are not pixels", content_type="image/jpeg")
    assert_shows(
        refused(operator, photo), "notes.jpg: The file is not an image Pillow can read (use JPEG, PNG, WebP or BMP)."
    )


def test_empty_file(operator):
    photo = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    assert_shows(refused(operator, photo), "empty.jpg: The uploaded file is empty.")


def test_unsupported_format(operator, gif_photo):
    assert_shows(refused(operator, gif_photo), "photo.gif: Unsupported image format GIF: use JPEG, PNG, WebP or BMP.")


def test_too_small(operator, tiny_photo):
    message = "tiny.png: The image is 16x16 pixels; a face needs at least 32 pixels on each side."
    assert_shows(refused(operator, tiny_photo), message)


def test_too_many_pixels(operator, upload, settings):
    settings.MAX_IMAGE_PIXELS = 10_000
    message = "Colin_Powell_0.jpg: The image is 250x250 pixels; the limit is 10,000 pixels."
    assert_shows(refused(operator, upload(ALICE)), message)


def test_file_too_large(operator, upload, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    photo = upload(ALICE)
    assert_shows(refused(operator, photo), f"The image is {photo.size:,} bytes; the limit is 1,000 bytes.")


def test_every_refused_photo_is_listed(operator, blank_photo):
    empty = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    response = refused(operator, blank_photo, empty)
    assert_shows(response, "blank.png: No face was detected in the image.")
    assert_shows(response, "empty.jpg: The uploaded file is empty.")


@pytest.mark.parametrize(
    "metadata, message",
    [
        ('{"team": "Security"', "this is not valid JSON: Expecting ',' delimiter (line 1, column 20)."),
        ('{"team": ["a"]', "this is not valid JSON"),
        ("{}}", "this is not valid JSON: Extra data (line 1, column 3)."),
        ("team: Security\njust words", 'Line 2 of the metadata is not "key: value": \'just words\'.'),
        (": no key", 'Line 1 of the metadata is not "key: value": \': no key\'.'),
        ("team: a\nteam: b", 'The metadata key "team" appears more than once.'),
    ],
)
def test_metadata_mistakes(operator, upload, metadata, message):
    response = operator.post("/enrol/", {"name": "Someone", "metadata": metadata, "photos": [upload(ALICE)]})
    assert_shows(response, message)
    assert not Person.objects.exists()


def test_metadata_json_must_be_an_object(operator, upload):
    response = operator.post("/enrol/", {"name": "Someone", "metadata": '["a"]', "photos": [upload(ALICE)]})
    assert_shows(response, "Must be a JSON object ({...}), not an array.")


def test_name_and_photo_are_required(operator):
    response = operator.post("/enrol/", {"name": "  "})
    assert response.context["form"].errors == {
        "name": ["This field is required."],
        "photos": ["This field is required."],
    }
    assert_shows(response, "This field is required.")


def test_someone_who_looks_enrolled_is_asked_for_confirmation(operator, enrol, upload):
    powell = enrol(ALICE)
    asked = operator.post("/enrol/", {"name": "C. Powell", "photos": [upload(ALICE, 1)]})
    assert asked.status_code == 200 and Person.objects.count() == 1
    assert_shows(asked, "This face looks like someone already enrolled:")
    assertContains(asked, f'<a href="/people/{powell.pk}/">Colin Powell</a>', html=True)
    assertContains(asked, 'name="allow_duplicates"')

    confirmed = operator.post(
        "/enrol/", {"name": "C. Powell", "photos": [upload(ALICE, 1)], "allow_duplicates": "on"}, follow=True
    )
    assert Person.objects.count() == 2
    assert_shows(confirmed, "Enrolled C. Powell from 1 photo.")


def test_a_poor_photo_is_refused_with_the_reason(operator, upload, photo):
    poor = SimpleUploadedFile("blurred.jpg", blurred(photo(ALICE, 0)), content_type="image/jpeg")
    response = operator.post("/enrol/", {"name": "Colin Powell", "photos": [poor]})
    assert Person.objects.count() == 0
    assert_shows(response, "blurred.jpg: The face is too blurred")
