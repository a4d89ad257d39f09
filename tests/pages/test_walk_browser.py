"""Every page of the site in Chromium at a phone's width and a desktop's, as a manager: no console
error, no failed request, nothing wider than the screen (tests/conftest.py Watched)."""

import pytest

from records import services

from .helpers import ALICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page(manager_site, live_server, photo):
    person = services.enrol("Colin Powell", photo(ALICE, 0)).person
    site = manager_site
    for path in ["/", "/enrol/", "/match/", "/people/", f"/people/{person.pk}/", f"/people/{person.pk}/delete/",
                 "/docs", "/redoc"]:
        site.goto(live_server.url + path)
    site.allow(404)
    site.goto(f"{live_server.url}/people/7c9e6679-7425-40de-944b-e07fc1f90ae7/")
    assert site.page.locator("h1").inner_text() == "Not found"
