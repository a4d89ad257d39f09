"""Photos from a phone in Chromium, at a phone's width and a desktop's: large photos are shrunk in
the browser before they are sent (keeping enough pixels for the detector), what would be refused for
its size is said before anything is sent, and a refused form keeps what was typed and chosen."""

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from records.models import Person

from .helpers import ALICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(manager_site):
    return manager_site


@pytest.fixture
def phone_photos(lfw_people, tmp_path):
    """Four 3600x3600 photos of one person, 3-6 MB each (upscaled LFW photos with sensor-like
    noise): 4 of them are far over one request's 10 MB."""
    rng = np.random.default_rng(19)
    paths = []
    for number in range(4):
        with Image.open(lfw_people[ALICE][number]) as small:
            large = np.asarray(small.convert("RGB").resize((3600, 3600), Image.Resampling.BICUBIC), dtype=np.float32)
        noisy = np.clip(large + rng.normal(0, 6, large.shape), 0, 255).astype(np.uint8)
        path = tmp_path / f"IMG_{number:04d}.jpg"
        Image.fromarray(noisy).save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def posts_to(page, path: str) -> list:
    sent = []
    page.on("request", lambda request: sent.append(len(request.post_data_buffer or b"")) if request.method == "POST" and request.url.endswith(path) else None)
    return sent


def test_four_phone_photos_are_shrunk_and_enrolled_in_one_upload(site, live_server, phone_photos, settings):
    page = site.page
    assert sum(path.stat().st_size for path in phone_photos) > settings.MAX_UPLOAD_BYTES
    sent = posts_to(page, "/enrol/")
    site.goto(f"{live_server.url}/enrol/")
    page.get_by_label("Name", exact=True).fill("Colin Powell")
    page.get_by_label("Photos", exact=True).set_input_files(phone_photos)
    page.get_by_role("button", name="Enrol").click()

    expect(page.get_by_text("Enrolled Colin Powell from 4 photos.")).to_be_visible(timeout=60_000)
    site.check()
    assert len(sent) == 1 and sent[0] < settings.MAX_UPLOAD_BYTES
    person = Person.objects.get()
    sizes = [(image.width, image.height) for image in person.images.all()]
    assert len(sizes) == 4 and all(max(size) == 2560 for size in sizes), sizes


def test_a_form_error_keeps_the_typed_fields_and_the_chosen_photos(site, live_server, lfw_people):
    page = site.page
    site.goto(f"{live_server.url}/enrol/")
    page.get_by_label("Name", exact=True).fill("Colin Powell")
    page.get_by_label("Metadata").fill("team Security")  # no colon: refused
    page.get_by_label("Photos", exact=True).set_input_files(lfw_people[ALICE][0])
    page.get_by_role("button", name="Enrol").click()

    expect(page.get_by_text('Line 1 of the metadata is not "key: value"')).to_be_visible()
    site.check()
    assert page.get_by_label("Photos", exact=True).evaluate("input => input.files.length") == 1
    expect(page.get_by_label("Name", exact=True)).to_have_value("Colin Powell")
    expect(page.locator("[data-previews] img")).to_have_count(1)
    page.get_by_label("Metadata").fill("team: Security")
    page.get_by_role("button", name="Enrol").click()
    expect(page.get_by_text("Enrolled Colin Powell from 1 photo.")).to_be_visible()
    assert Person.objects.get().metadata == {"team": "Security"}


def test_photos_over_the_request_limit_are_refused_before_sending(site, live_server, phone_photos, settings):
    page = site.page
    settings.MAX_REQUEST_BYTES = 600_000  # less than four 2560 px photos, whatever the browser
    sent = posts_to(page, "/enrol/")
    site.goto(f"{live_server.url}/enrol/")
    page.get_by_label("Name", exact=True).fill("Colin Powell")
    page.get_by_label("Photos", exact=True).set_input_files(phone_photos)
    page.get_by_role("button", name="Enrol").click()

    expect(page.locator("[data-form-alert]")).to_contain_text("more than the")
    site.check()
    assert sent == [] and not Person.objects.exists()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Colin Powell")
