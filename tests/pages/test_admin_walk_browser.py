"""Every page of the admin in Chromium at a phone's width and a desktop's, as a superuser: the
index, each application's page, and for every model its change list, its add form (where one may
add), the change (or view) page of a row and its history, plus the admin's own pages (possible
duplicates, merging two records, changing one's password). No console error, failed request,
error status or page wider than the screen (tests/conftest.py Watched)."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse

from records.usecases import enrolment

from .admin_rows import ROWS
from .helpers import BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return request


def model_pages(label: str, row) -> list[str]:
    """The admin's pages of one model: change list, add form where one may add, a row's change
    page (a view page where it is read-only) and its history."""
    model = type(row)
    model_admin = admin.site._registry[model]
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    pages = [reverse(f"{name}_changelist")]
    if model_admin.has_add_permission(_superuser_request()):
        pages.append(reverse(f"{name}_add"))
    return [*pages, reverse(f"{name}_change", args=[row.pk]), reverse(f"{name}_history", args=[row.pk])]


@pytest.mark.django_db
def test_every_admin_model_is_walked():
    """A model added to the admin without a row made for its pages here fails."""
    assert {model._meta.label for model in admin.site._registry} == set(ROWS)


def test_every_admin_page(admin_site, live_server, photo):
    made = {label: make(photo) for label, make in ROWS.items()}
    kept = enrolment.enrol("Tony Blair", photo(BOB, 0)).person
    twin = enrolment.enrol("T. Blair", photo(BOB, 1)).person
    paths = [reverse("admin:index")]
    paths += sorted({reverse("admin:app_list", args=[model._meta.app_label]) for model in admin.site._registry})
    for label, row in made.items():
        paths += model_pages(label, row)
    paths += [
        reverse("admin:records_person_duplicates"),
        f"{reverse('admin:records_person_merge')}?keep={kept.pk}&remove={twin.pk}",
        reverse("admin:password_change"),
    ]
    walked = []
    for path in paths:
        admin_site.goto(live_server.url + path)
        assert admin_site.page.url.endswith(path), f"{path} went to {admin_site.page.url}"
        walked.append(admin_site.page.title())
    assert not [title for title in walked if "error" in title.lower()], walked
