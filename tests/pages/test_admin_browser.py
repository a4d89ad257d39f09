"""The admin in Chromium, at a phone's width and a desktop's: the index page's buttons clicked as an
operator clicks them (a test posting to their URL cannot see a form the browser drops), and every
admin action run from its change list, with the confirmation page where Django asks for one."""

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from playwright.sync_api import expect

from jobs.models import Job
from recognition.models import IndexState
from recognition.service import get_service
from records.models import FaceImage, Person
from records.usecases import enrolment

from . import admin_rows as rows
from .helpers import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_index_buttons_rebuild_and_queue_a_reembed(admin_site, live_server, photo):
    enrolment.enrol("Colin Powell", photo(ALICE, 0))
    page = admin_site.page
    admin_site.goto(f"{live_server.url}/admin/recognition/indexstate/")

    page.get_by_role("button", name="Rebuild the index from the database").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile(r"Rebuilt the .* index: 1 vector in"))
    admin_site.check()
    assert IndexState.objects.get().rebuilt_at is not None
    expect(page.locator("td.field-rebuilt_at")).not_to_have_text("-")

    page.get_by_role("button", name="Re-embed every photo, then rebuild").click()
    job = Job.objects.get()  # no worker here: it stays queued, and the page lists it
    expect(page.locator(".messagelist")).to_contain_text(f"Queued job {job.pk} to re-embed every photo (1)")
    expect(page.locator(".index-jobs")).to_contain_text(f"{job.state}, 0 / 1 photos")
    admin_site.check()


# Every action of every model in the admin: (model label, action) -> (what to make, the message it
# gives). A model or action added to the admin without a line here fails test_every_admin_action_is_covered.
DELETED = "Successfully deleted 1"
ACTIONS = {
    ("auth.Group", "delete_selected"): (rows.group, DELETED),
    ("auth.User", "delete_selected"): (rows.user, DELETED),
    ("axes.AccessAttempt", "delete_selected"): (rows.access("AccessAttempt"), DELETED),
    ("axes.AccessAttempt", "cleanup_expired_attempts"): (rows.expired_attempt, "Cleaned up 1 expired access attempts."),
    ("axes.AccessLog", "delete_selected"): (rows.access("AccessLog"), DELETED),
    ("axes.AccessFailureLog", "delete_selected"): (rows.access("AccessFailureLog"), DELETED),
    ("otp_totp.TOTPDevice", "delete_selected"): (rows.device, DELETED),
    ("records.Person", "delete_selected"): (rows.person, DELETED),
    ("records.FaceImage", "delete_selected"): (rows.face_image, DELETED),
    ("records.FaceImage", "reembed"): (rows.face_image, "Re-embedded 1 photo with"),
    ("access.ScopedAPIKey", "delete_selected"): (rows.api_key, DELETED),
    ("events.Webhook", "delete_selected"): (rows.webhook, DELETED),
    ("events.Delivery", "delete_selected"): (rows.delivery, DELETED),
}


def registered_actions() -> set[tuple[str, str]]:
    from django.contrib.auth.models import User

    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return {
        (model._meta.label, action)
        for model, model_admin in admin.site._registry.items()
        for action in model_admin.get_actions(request)
    }


@pytest.mark.django_db
def test_every_admin_action_is_covered():
    assert registered_actions() == set(ACTIONS)


@pytest.mark.parametrize("label, action", sorted(ACTIONS), ids=lambda value: str(value))
def test_each_admin_action_from_its_change_list(admin_site, live_server, photo, label, action):
    make, message = ACTIONS[(label, action)]
    target = make(photo)
    model = type(target)
    page = admin_site.page
    admin_site.goto(f"{live_server.url}/admin/{model._meta.app_label}/{model._meta.model_name}/")

    page.locator(f'input.action-select[value="{target.pk}"]').check()
    page.locator('select[name="action"]').select_option(action)
    page.get_by_role("button", name="Go").click()
    if action == "delete_selected":
        sure = page.get_by_role("button", name=re.compile("^Yes, I.m sure"))
        expect(sure).to_be_visible()
        admin_site.check()
        sure.click()
    expect(page.locator(".messagelist")).to_contain_text(message)
    admin_site.check()
    if action in ("delete_selected", "cleanup_expired_attempts"):
        assert not model.objects.filter(pk=target.pk).exists()
    if action == "reembed":
        assert FaceImage.objects.get(pk=target.pk).face_vector.model_key == get_service().model_key


def test_merge_two_records_from_the_duplicates_page(admin_site, live_server, photo):
    kept = enrolment.enrol("Tony Blair", photo(BOB, 0)).person
    removed = enrolment.enrol("T. Blair", photo(BOB, 1)).person
    page = admin_site.page
    admin_site.goto(f"{live_server.url}/admin/records/person/duplicates/")

    page.get_by_role("link", name="Keep the first").click()
    expect(page.locator("h1")).to_have_text("Merge two records")
    admin_site.check()
    page.get_by_role("button", name="Yes, merge T. Blair into Tony Blair").click()
    expect(page.locator(".messagelist")).to_contain_text("Merged: 1 photo moved to Tony Blair")
    admin_site.check()
    assert list(Person.objects.all()) == [kept]
    assert kept.images.count() == 2 and not Person.objects.filter(pk=removed.pk).exists()


def test_the_copy_button_puts_a_new_keys_secret_on_the_clipboard(admin_site, live_server):
    from access.models import ScopedAPIKey

    page = admin_site.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    admin_site.goto(f"{live_server.url}/admin/access/scopedapikey/add/")
    page.get_by_label("Name").fill("door")
    page.locator('input[name="scopes"][value="match"]').check()
    page.get_by_role("button", name="Save", exact=True).click()

    secret = page.locator("#api-key-secret")
    expect(secret).to_be_visible()
    copy = page.get_by_role("button", name="Copy", exact=True)
    copy.click()
    expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    admin_site.check()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == secret.inner_text().strip() and ScopedAPIKey.objects.get_from_key(copied).name == "door"
