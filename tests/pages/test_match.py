"""The match page: who is in a photo, at which threshold, and every message it shows."""

import base64
import re

import pytest
from PIL import Image
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.asserts import assertContains, assertNotContains

from recognition.policy import MatchPolicy
from recognition.service import get_service
from records.models import Collection

from .helpers import ALICE, BOB, STRANGER, assert_shows

pytestmark = pytest.mark.django_db


@pytest.fixture
def gallery(enrol):
    """Alice and Bob enrolled from their first photos."""
    return enrol(ALICE), enrol(BOB)


def match(operator, photo, **fields):
    return operator.post("/match/", {"photo": photo, **fields})


def candidates(operator, photo, **fields):
    """The match with the nearest people listed, within the threshold or not (its own button)."""
    return operator.post("/match/candidates/", {"photo": photo, **fields})


def test_the_form_takes_a_photo_and_a_threshold(operator):
    response = operator.get("/match/")
    assertContains(response, 'enctype="multipart/form-data"')
    assertContains(response, 'data-async-target="#match-result"')
    assertContains(response, 'accept="image/*"')
    assertContains(response, 'name="threshold"')
    assertContains(response, "Default: 0.6000.")
    assertNotContains(response, "Unknown person")


def test_another_photo_of_someone_enrolled_finds_them(operator, gallery, upload):
    alice, bob = gallery
    response = candidates(operator, upload(ALICE, 1))
    context = response.context
    assert context["best"]["name"] == "Colin Powell"
    assert [other["name"] for other in context["others"]] == ["Tony Blair"]
    assertContains(response, "Best match")
    assertContains(response, f'<a href="/people/{alice.pk}/">Colin Powell</a>', html=True)
    # Their enrolled face, and the other candidate's.
    assertContains(response, f'src="/photos/{alice.first_image.pk}/face.jpg"')
    assertContains(response, f'src="/photos/{bob.first_image.pk}/face.jpg"')
    assertContains(response, 'class="confidence__bar"')
    assertContains(response, "Other candidates")
    assertContains(response, "Threshold 0.6000")
    assertContains(response, get_service().model_key)
    assertNotContains(response, "Unknown person")


def test_a_match_within_a_collection_sees_only_its_people(operator, enrol, upload):
    site_a = Collection.objects.create(name="site-a")
    enrol(ALICE, collection=site_a)
    enrol(BOB)
    assertContains(operator.get("/match/"), '<option value="site-a">site-a</option>', html=True)

    within_default = candidates(operator, upload(ALICE, 1), collection="default").context
    within_a = candidates(operator, upload(ALICE, 1), collection="site-a").context

    assert within_default["best"] is None and [o["name"] for o in within_default["others"]] == ["Tony Blair"]
    assert within_a["best"]["name"] == "Colin Powell" and within_a["others"] == []


def test_the_photo_comes_back_with_the_face_outlined(operator, gallery, upload, photo):
    response = match(operator, upload(ALICE, 1))
    x, y, w, h = response.context["largest"]["face_box"]
    # Never stored: the photo is sent back inline, and the page's script sizes the box to it.
    assertContains(response, f'src="data:image/jpeg;base64,{base64.b64encode(photo(ALICE, 1)).decode()}"')
    assertContains(response, f'<rect x="{x}" y="{y}" width="{w}" height="{h}"></rect>', html=True)
    assertContains(response, "face-boxes--known")


def test_a_stranger_is_an_unknown_person_with_no_candidate_named(operator, gallery, upload):
    response = match(operator, upload(STRANGER))
    assert response.context["best"] is None and response.context["others"] == []
    assertContains(response, "Unknown person")
    assert_shows(response, "Nobody enrolled is within the threshold.")
    assertContains(response, "face-boxes--unknown")
    for person in gallery:
        assertNotContains(response, person.name)
        assertNotContains(response, f"/photos/{person.first_image.pk}/face.jpg")
    assertContains(response, 'formaction="/match/candidates/"')  # asked for with its own button


def test_a_known_face_shows_no_candidate_below_the_threshold(operator, gallery, upload):
    alice, bob = gallery
    response = match(operator, upload(ALICE, 1))
    assert response.context["best"]["name"] == "Colin Powell" and response.context["others"] == []
    assertNotContains(response, "Tony Blair")
    assertNotContains(response, f"/photos/{bob.first_image.pk}/face.jpg")


def test_the_candidates_view_lists_the_closest_people_below_the_threshold(operator, gallery, upload):
    response = candidates(operator, upload(STRANGER))
    assert response.context["best"] is None
    assert {other["name"] for other in response.context["others"]} == {"Colin Powell", "Tony Blair"}
    assertContains(response, "Closest people, none within the threshold")


def test_the_candidates_view_needs_the_right_to_browse_people(client, member, gallery, upload):
    from django.contrib.auth.models import Permission

    matcher = member(None, "door")
    matcher.user_permissions.add(Permission.objects.get(codename="match_person"))
    client.force_login(matcher)
    assert client.post("/match/candidates/", {"photo": upload(STRANGER)}).status_code == 403
    page = client.get("/match/")
    assert page.status_code == 200
    assertNotContains(page, "/match/candidates/")


def test_no_guide_button_goes_past_the_1_to_1_threshold(operator, gallery, upload, settings):
    limit = MatchPolicy.of(get_service().model_key).verification_threshold
    settings.RECOGNITION_THRESHOLD = 0.7  # looser (x1.25) would be 0.875
    response = match(operator, upload(STRANGER))
    offered = [float(value) for value in re.findall(r'data-threshold="([0-9.]+)"', response.content.decode())]
    assert offered and max(offered) <= limit
    assert response.context["looser"] == limit


def test_nobody_enrolled(operator, upload):
    response = candidates(operator, upload(ALICE))
    assertContains(response, "Unknown person")
    assertContains(response, "Nobody is enrolled yet.")


def test_a_stricter_threshold_turns_a_match_into_an_unknown_person(operator, gallery, upload):
    response = match(operator, upload(ALICE, 1), threshold="0.001")
    assertContains(response, "Unknown person")
    assertContains(response, "Threshold 0.0010")
    assertContains(response, 'data-threshold="0.0008"')  # stricter again
    assertContains(response, 'data-threshold="0.0013"')  # looser


def test_a_group_photo_labels_every_face_with_a_colour_and_a_row(operator, group_photo, faces_dir):
    kit = faces_dir / "samples/face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg"
    enrolled = operator.post(
        "/enrol/", {"name": "Kit Harington", "photos": [SimpleUploadedFile("kit.jpg", kit.read_bytes())]}
    )
    assert enrolled.status_code == 302
    response = match(operator, group_photo)
    assertContains(response, "2 faces were detected; this is face 1, the largest.")
    faces = response.context["faces"]
    assert [face["label"] for face in faces] == ["Kit Harington", "Unknown"]
    for number, face in enumerate(faces):
        x, y, w, h = face["face_box"]
        assertContains(response, f'<g class="face-colour--{number}">', count=1)
        assertContains(response, f'<rect x="{x}" y="{y}" width="{w}" height="{h}"></rect>', html=True)
        assertContains(response, f"{number + 1} · {face['label']}</text>")
        assertContains(response, f'<span class="face-swatch face-colour--{number}" aria-hidden="true"></span>', html=True)
    assertContains(response, "Everyone in the photo")
    # Readable labels: at least 3.5% of the photo's longer side, on a dark box.
    with Image.open(faces_dir / "samples/group/kit_with_rose.jpg") as photo:
        longer = max(photo.size)
    assert all(face["label_size"] >= round(longer * 0.035) for face in faces)
    assertContains(response, 'class="face-label"', count=2)
    assertContains(response, f'<a href="/people/{faces[0]["best_match"].id}/">Kit Harington</a>', html=True, count=2)


def refused(operator, photo, **fields):
    response = match(operator, photo, **fields)
    assert response.status_code == 200
    assert "result" not in response.context
    return response


def test_no_face(operator, blank_photo):
    assert_shows(refused(operator, blank_photo), "No face was detected in the image.")


def test_unreadable_file(operator):
    photo = SimpleUploadedFile("notes.jpg", b"these are not pixels", content_type="image/jpeg")
    assert_shows(refused(operator, photo), "The file is not an image Pillow can read (use JPEG, PNG, WebP or BMP).")


def test_empty_file(operator):
    photo = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    assert_shows(refused(operator, photo), "The uploaded file is empty.")


def test_unsupported_format(operator, gif_photo):
    assert_shows(refused(operator, gif_photo), "Unsupported image format GIF: use JPEG, PNG, WebP or BMP.")


def test_too_small(operator, tiny_photo):
    message = "The image is 16x16 pixels; a face needs at least 32 pixels on each side."
    assert_shows(refused(operator, tiny_photo), message)


def test_too_many_pixels(operator, upload, settings):
    settings.MAX_IMAGE_PIXELS = 10_000
    assert_shows(refused(operator, upload(ALICE)), "The image is 250x250 pixels; the limit is 10,000 pixels.")


def test_file_too_large(operator, upload, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    photo = upload(ALICE)
    assert_shows(refused(operator, photo), f"The image is {photo.size:,} bytes; the limit is 1,000 bytes.")


def test_no_photo(operator):
    assert_shows(operator.post("/match/", {}), "This field is required.")


@pytest.mark.parametrize(
    "threshold, message",
    [
        ("-0.1", "Threshold: Ensure this value is greater than or equal to 0.0."),
        ("3", "Threshold: Ensure this value is less than or equal to 2.0."),
        ("strict", "Threshold: Enter a number."),
    ],
)
def test_threshold_out_of_range(operator, upload, threshold, message):
    assert_shows(refused(operator, upload(ALICE), threshold=threshold), message)
