"""Every page of the site in Chromium at a phone's width and a desktop's: as a manager, an import
job's page while queued, done and failed, and what a Viewers-only user sees and is refused. No
console error, no failed request, nothing wider than the screen (tests/conftest.py Watched)."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from records import jobs
from records.usecases import enrolment

from .conftest import log_in
from .helpers import ALICE, BOB, STRANGER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page(manager_site, live_server, photo):
    person = enrolment.enrol("Colin Powell", photo(ALICE, 0)).person
    site = manager_site
    for path in ["/", "/enrol/", "/match/", "/live/", "/people/", f"/people/{person.pk}/", f"/people/{person.pk}/delete/", "/inbox/",
                 "/docs", "/redoc"]:
        site.goto(live_server.url + path)
    site.allow(404)
    site.goto(f"{live_server.url}/people/7c9e6679-7425-40de-944b-e07fc1f90ae7/")
    assert site.page.locator("h1").inner_text() == "Not found"


def test_an_import_jobs_page_queued_done_and_failed(manager_site, live_server, photo, lfw_people, settings):
    """Photos added beyond PAGES_PHOTOS_PER_REQUEST are a job (no task worker here: it stays
    queued until the test runs it)."""
    settings.PAGES_PHOTOS_PER_REQUEST = 2
    serena = enrolment.enrol("Serena Williams", photo(STRANGER, 0)).person
    site, page = manager_site, manager_site.page
    site.goto(f"{live_server.url}/people/{serena.pk}/")
    page.get_by_label("Photos", exact=True).set_input_files([lfw_people[STRANGER][1], *lfw_people[BOB][:2]])
    page.get_by_role("button", name="Add", exact=True).click()

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    job = Job.objects.get()
    expect(page.locator(".lead")).to_contain_text(f"Job {job.pk}: queued, 0 of 3 photos done. This page refreshes itself")
    site.check()
    jobs.run_job.call(str(job.pk))
    # The page refreshes itself every 2 s while the job runs: it shows the outcome unasked.
    expect(page.locator(".lead")).to_contain_text("succeeded, 3 of 3 photos tried", timeout=10_000)
    expect(page.locator(".alert--success")).to_have_text("1 photo stored for Serena Williams; 2 refused (below).")
    expect(page.locator(".alert--warning")).to_contain_text("2 photos did not look like Serena Williams")
    site.check()

    failed = Job.objects.create(kind=Job.Kind.IMPORT, model_key=job.model_key, total=2, state=Job.State.FAILED,
                                error="Its worker stopped 3 times.", options={"name": "Someone"})
    site.goto(f"{live_server.url}/jobs/{failed.pk}/")
    expect(page.locator(".alert--error")).to_have_text("The job failed: Its worker stopped 3 times.")
    site.allow(404)
    site.goto(f"{live_server.url}/jobs/7c9e6679-7425-40de-944b-e07fc1f90ae7/")
    assert page.locator("h1").inner_text() == "Not found"


def test_a_viewer_browses_people_and_is_refused_the_rest(live_server, watched, member, photo):
    """Viewers see people, their photos and metadata: nothing to match, enrol, change, export or
    delete is offered, and each such page is a styled 403 with the navigation."""
    person = enrolment.enrol("Colin Powell", photo(ALICE, 0), metadata={"team": "Security"}).person
    member("Viewers", "vera")
    site = log_in(watched, f"{live_server.url}/accounts/login/", "vera")
    page = site.page
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["People"])

    site.goto(f"{live_server.url}/people/")
    page.get_by_role("link", name="Colin Powell").first.click()
    expect(page.locator("h1")).to_have_text("Colin Powell")
    expect(page.get_by_text("Security")).to_be_visible()
    expect(page.locator("main img").first).to_be_visible()
    site.check()
    for offered in ("Export data", "Delete…", "Add", "Check", "Save", "Remove"):
        expect(page.get_by_role("link", name=offered, exact=True).or_(page.get_by_role("button", name=offered, exact=True))).to_have_count(0)

    site.allow(403)
    for path in ["/enrol/", "/match/", "/match/candidates/", f"/people/{person.pk}/export/", f"/people/{person.pk}/delete/"]:
        site.goto(live_server.url + path)
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="People")).to_be_visible()
    site.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url  # not staff


def test_feedback_on_a_recognition_from_the_match_page_and_recent_recognitions(manager_site, live_server, photo, lfw_people):
    """A manager confirms a recognition on the match page's result, then says "not this person" of
    another on the Recent recognitions page (its crops shown)."""
    enrolment.enrol("Colin Powell", photo(ALICE, 0))
    site, page = manager_site, manager_site.page
    site.goto(f"{live_server.url}/match/")
    page.get_by_label("Photo", exact=True).set_input_files(lfw_people[ALICE][1])
    page.get_by_role("button", name="Match", exact=True).click()
    result = page.locator("#match-result")
    expect(result.get_by_role("button", name="Not this person")).to_be_visible()
    site.check()
    result.get_by_role("button", name="Confirm: Colin Powell").click()
    page.wait_for_url(re.compile(r"/inbox/recognitions/$"))
    expect(page.locator(".alert--success")).to_contain_text("Confirmed: Colin Powell. The face was added as their photo.")
    site.check()

    site.goto(f"{live_server.url}/match/")
    page.get_by_label("Photo", exact=True).set_input_files(lfw_people[ALICE][2])
    page.get_by_role("button", name="Match", exact=True).click()
    expect(page.locator("#match-result").get_by_role("button", name="Not this person")).to_be_visible()
    site.goto(f"{live_server.url}/inbox/recognitions/")
    expect(page.locator(".recognition")).to_have_count(2)
    expect(page.locator(".recognition img")).to_have_count(2)
    page.locator(".recognition").filter(has=page.get_by_role("button", name="Not this person")).get_by_role(
        "button", name="Not this person"
    ).click()
    expect(page.locator(".alert--success")).to_contain_text("Not Colin Powell: they will not be named for this face again.")
    expect(page.locator(".recognition")).to_contain_text(["Not this person.", "Confirmed."])
    site.check()
