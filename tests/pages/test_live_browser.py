"""The live page in Chromium with a fake camera fed from a video made at test time (ffmpeg, in a
temporary folder) of real LFW photos: someone enrolled is named, a stranger shown as unknown, and
door mode sends one event per person however many frames show them; a browser without a camera is
told so. At a phone's width and a desktop's, failing on console errors (tests/conftest.py Watched)."""

import subprocess

import pytest
from playwright.sync_api import expect

from events.models import Event
from events.subscriptions import create_webhook
from records.usecases import enrolment
from tests.conftest import Watched
from tests.events.test_sightings import side_by_side

from .conftest import log_in
from .helpers import ALICE, STRANGER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FRAMES_WATCHED = 6  # frames answered before the events are counted: several frames per person


@pytest.fixture
def camera_video(tmp_path, photo):
    """A 640x480 video, 2 s at 10 fps (Chromium loops it): Colin Powell on the left, Serena
    Williams on the right."""
    still = tmp_path / "frame.jpg"
    still.write_bytes(side_by_side(photo(ALICE, 1), photo(STRANGER, 0)))
    video = tmp_path / "camera.y4m"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-loop", "1", "-i", str(still), "-t", "2", "-r", "10",
         "-vf", "scale=640:-2,pad=640:480:(ow-iw)/2:(oh-ih)/2", "-pix_fmt", "yuv420p", str(video)],
        check=True, timeout=60,
    )
    return video


@pytest.fixture
def camera_browser(playwright, browser_type_launch_args, camera_video):
    """Chromium whose camera is the video, allowed without asking."""
    args = [*browser_type_launch_args["args"], "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera_video}"]
    browser = playwright.chromium.launch(**{**browser_type_launch_args, "args": args})
    yield browser
    browser.close()


def test_the_live_page_names_who_the_camera_sees_and_door_mode_sends_one_event_each(
    camera_browser, live_server, member, photo, width, settings
):
    settings.LIVE_REPEAT_SECONDS = 600
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    create_webhook("http://127.0.0.1:9/hook", ["face.recognized", "face.unknown"])  # nobody listens
    powell = enrolment.enrol("Colin Powell", photo(ALICE, 0)).person
    member("Managers", "operator")
    context = camera_browser.new_context()
    site = Watched(context.new_page(), width)
    page = site.page
    answered = []
    page.on("response", lambda response: answered.append(response.status) if response.url.endswith("/live/frame") else None)
    log_in(site, f"{live_server.url}/accounts/login/", "operator")
    site.goto(f"{live_server.url}/live/")

    page.get_by_label("Door mode").check()
    page.get_by_role("button", name="Start the camera").click()
    seen = page.locator("[data-live-seen] li")
    expect(seen.filter(has_text="Colin Powell")).to_have_count(1, timeout=60_000)
    expect(seen.filter(has_text="Unknown")).to_have_count(1)
    expect(page.get_by_text("Nobody yet.")).to_be_hidden()
    expect(page.get_by_role("button", name="Start the camera")).to_be_hidden()
    page.wait_for_function("() => document.querySelector('[data-live-status]').textContent.includes('2 face(s)')")
    while len(answered) < FRAMES_WATCHED:
        page.wait_for_timeout(200)
    page.get_by_role("button", name="Stop").click()
    assert set(answered) == {200}
    expect(seen).to_have_count(2)  # names held steady: nobody else was ever shown
    expect(seen.filter(has_text="Colin Powell")).to_contain_text("event sent")
    site.check()
    [recognized] = Event.objects.filter(type="face.recognized")
    assert recognized.data["record_id"] == str(powell.pk)
    assert recognized.data["source"] == {"type": "user", "name": "operator"}
    assert Event.objects.filter(type="face.unknown").count() == 1
    context.close()


def test_a_browser_without_a_camera_is_told_so(manager_site, live_server):
    """The session's Chromium has no camera device (no fake one): starting says so."""
    site = manager_site
    site.goto(f"{live_server.url}/live/")
    site.page.get_by_role("button", name="Start the camera").click()
    expect(site.page.locator("[data-live-error]")).to_contain_text("camera")
    expect(site.page.get_by_role("button", name="Start the camera")).to_be_visible()
    site.check()
