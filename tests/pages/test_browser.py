"""End to end in Chromium: log in, enrol, match them, meet a stranger, delete them.

Saves screenshots of the enrol and match results: to docs/screenshots/ (the README shows the
match page) when UPDATE_SCREENSHOTS=1, else to the test's temporary folder, so a test run leaves
the checkout as it was."""

import base64
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from records.usecases import enrolment
from records.models import Person

from .helpers import STRANGER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a long test password"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    return DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture
def samples(faces_dir) -> Path:
    """Larger photos than LFW's, which make better screenshots."""
    return faces_dir / "samples" / "face_recognition" / "examples" / "knn_examples"


@pytest.fixture
def site(live_server, watched, member):
    """A browser page logged in to the live server, at a phone's width and a desktop's (each page
    checked as tests/conftest.py's Watched says)."""
    member("Managers", "operator")
    page = watched.page
    page.goto(live_server.url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Face identification")).to_be_visible()
    watched.check()
    return page


def drop(page, path: Path) -> None:
    """Drop a photo on the drop zone, as from a desktop's file manager."""
    page.evaluate(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            const zone = document.querySelector("[data-drop-zone]");
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def wait_for_images(page, attempts: int = 200) -> None:
    # Polled with evaluate: wait_for_function compiles its expression in the page, which the
    # Content-Security-Policy (no unsafe-eval) refuses.
    for _ in range(attempts):
        if page.evaluate("Array.from(document.images).every((img) => img.complete && img.naturalWidth > 0)"):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page's images did not load")


def test_enrol_match_and_delete_in_the_browser(site, samples, lfw_people, settings, screenshots):
    page = site
    # Two people enrolled before, so the match has other candidates to show.
    enrolment.enrol("Joe Biden", (samples / "train" / "biden" / "biden2.jpg").read_bytes())
    enrolment.enrol("Kit Harington", (samples / "train" / "kit_harington" / "john2.jpeg").read_bytes())

    # Enrol, with a preview of the photo before it is sent.
    page.get_by_role("link", name="Enrol", exact=True).click()
    page.get_by_label("Name", exact=True).fill("Barack Obama")
    page.get_by_label("Photos", exact=True).set_input_files(samples / "train" / "obama" / "obama.jpg")
    expect(page.locator("[data-previews] img")).to_have_count(1)
    page.get_by_label("Metadata").fill("team: Visitors\nbadge: 44")
    page.get_by_role("button", name="Enrol").click()
    expect(page.get_by_role("heading", name="Barack Obama")).to_be_visible()
    expect(page.get_by_text("Enrolled Barack Obama from 1 photo.")).to_be_visible()
    expect(page.locator(".face-photo svg rect")).to_be_visible()
    wait_for_images(page)
    page.screenshot(path=screenshots / "enrol.png", full_page=True)
    obama = Person.objects.get(name="Barack Obama")
    obama_folder = Path(settings.MEDIA_ROOT) / "faces" / str(obama.pk)
    assert obama.metadata == {"team": "Visitors", "badge": "44"} and obama_folder.is_dir()

    # Match another photo of him: the result replaces the page's result section in place.
    page.get_by_role("link", name="Match", exact=True).click()
    page.get_by_label("Photo", exact=True).set_input_files(samples / "test" / "obama1.jpg")
    page.get_by_role("button", name="Match", exact=True).click()
    result = page.locator("#match-result")
    expect(result.get_by_role("heading", name="Barack Obama")).to_be_visible()
    expect(result.locator(".face-boxes")).to_be_visible()  # sized to the photo by the script
    expect(result).not_to_contain_text("Joe Biden")  # below the threshold: nobody else is named
    # The nearest people too, asked for with their own button.
    page.get_by_role("button", name="Match and list the nearest people").click()
    expect(result).to_contain_text("Other candidates")
    expect(result).to_contain_text("Joe Biden")
    wait_for_images(page)
    page.screenshot(path=screenshots / "match.png", full_page=True)

    # The same photo again, stricter.
    result.get_by_role("button", name=re.compile("^stricter")).click()
    expect(result).to_contain_text("Threshold 0.4800")
    expect(result.get_by_role("heading", name="Barack Obama")).to_be_visible()

    # A stranger, dropped on the page.
    drop(page, lfw_people[STRANGER][0])
    expect(page.locator("[data-previews] figcaption")).to_contain_text(f"{STRANGER}_0001.jpg")
    page.get_by_role("button", name="Match", exact=True).click()
    expect(result.get_by_role("heading", name="Unknown person")).to_be_visible()

    # Delete him, after the confirmation.
    page.get_by_role("link", name="People", exact=True).click()
    page.get_by_role("link", name=re.compile("Barack Obama")).click()
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Delete Barack Obama")).click()
    expect(page.get_by_text("Barack Obama was deleted, with their photos and face data.")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Barack Obama"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Joe Biden"))).to_have_count(1)
    assert not Person.objects.filter(pk=obama.pk).exists()
    assert not any(obama_folder.glob("*"))


def test_a_photo_refused_as_too_large_is_sent_once_and_the_page_says_why(site, watched, lfw_people, settings):
    page = site
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    watched.allow(413)
    page.get_by_role("link", name="Match", exact=True).click()
    page.get_by_label("Photo", exact=True).set_input_files(lfw_people[STRANGER][0])
    # Lowered after the page was shown, so its own check let the photo go: the server refuses it.
    settings.MAX_REQUEST_BYTES = 5_000
    page.get_by_role("button", name="Match", exact=True).click()

    expect(page.locator("#match-result [role=alert]")).to_contain_text("the limit is 5,000 bytes")
    page.wait_for_timeout(500)
    assert len(posts) == 1, posts  # no second upload by a form submit after the 413
    expect(page).to_have_url(re.compile(r"/match/$"))
    watched.check()
