"""The live page in Chromium with a fake camera fed from a video made at test time (ffmpeg, in a
temporary folder) of real LFW photos: someone enrolled is named, a stranger shown as unknown, and
door mode sends one event per person however many frames show them; a browser without a camera, or
whose camera was refused, is told so. At a phone's width and a desktop's, failing on console errors (tests/conftest.py Watched)."""

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


def test_a_user_whose_permission_went_while_watching_is_told_so(camera_browser, live_server, member):
    user = member("Managers", "operator")
    context = camera_browser.new_context()
    site = Watched(context.new_page(), 1200)
    log_in(site, f"{live_server.url}/accounts/login/", "operator")
    site.goto(f"{live_server.url}/live/")
    site.page.get_by_role("button", name="Start the camera").click()
    expect(site.page.locator("[data-live-status]")).to_contain_text("face(s)", timeout=60_000)
    site.allow(403)
    user.groups.clear()
    expect(site.page.locator("[data-live-error]")).to_have_text("The server refused the frame (403): reload the page.")
    expect(site.page.get_by_role("button", name="Start the camera")).to_be_visible()  # it stopped sending
    site.check()
    context.close()


def test_a_refused_camera_is_told_so(playwright, browser_type_launch_args, live_server, member, width):
    """A camera there, its permission refused (no fake prompt answers yes: Chromium refuses)."""
    args = [*browser_type_launch_args["args"], "--use-fake-device-for-media-stream"]
    browser = playwright.chromium.launch(**{**browser_type_launch_args, "args": args})
    try:
        member("Managers", "operator")
        site = Watched(browser.new_context().new_page(), width)
        log_in(site, f"{live_server.url}/accounts/login/", "operator")
        site.goto(f"{live_server.url}/live/")
        site.page.get_by_role("button", name="Start the camera").click()
        expect(site.page.locator("[data-live-error]")).to_contain_text("The camera was refused. Allow this site to use the camera")
        site.check()
    finally:
        browser.close()


def test_one_uncertain_frame_does_not_rename_a_face(manager_site, live_server):
    """static/js/live.js's own functions, in the page: a face keeps the name it had most often in
    its last frames, and a box is the same face as the last frame's box it overlaps enough."""
    site = manager_site
    site.goto(f"{live_server.url}/live/")
    powell, blair, unknown = ({"key": "p", "name": "Colin Powell"}, {"key": "b", "name": "Tony Blair"},
                              {"key": "", "name": "Unknown"})
    label = "history => steadyLabel(history).name"
    assert site.page.evaluate(label, [powell, powell, blair, powell, unknown]) == "Colin Powell"
    assert site.page.evaluate(label, [powell, blair, blair]) == "Tony Blair"  # most often, not first
    assert site.page.evaluate(label, [powell, blair]) == "Tony Blair"  # a tie: the latest
    assert site.page.evaluate("([a, b]) => overlap(a, b)", [[0, 0, 100, 100], [10, 0, 100, 100]]) > 0.8
    assert site.page.evaluate("([a, b]) => overlap(a, b)", [[0, 0, 100, 100], [200, 0, 100, 100]]) == 0


def test_a_browser_without_a_camera_is_told_so(manager_site, live_server):
    """The session's Chromium has no camera device (no fake one): starting says so."""
    site = manager_site
    site.goto(f"{live_server.url}/live/")
    site.page.get_by_role("button", name="Start the camera").click()
    expect(site.page.locator("[data-live-error]")).to_contain_text("camera")
    expect(site.page.get_by_role("button", name="Start the camera")).to_be_visible()
    site.check()
