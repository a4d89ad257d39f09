"""Who may open which page: every page × a user of each group (records/migrations/0004) and a user
with no permission, over HTTP against the live server; and the navigation each of them is shown."""

import re
import uuid

import pytest
import requests
from django.contrib.auth.models import Group

from records.usecases import enrolment
from tests.conftest import PASSWORD

from .helpers import ALICE

pytestmark = pytest.mark.django_db(transaction=True)

GROUPS = ["Viewers", "Operators", "Managers", None]  # None: logged in, no permission
VIEWERS, ENROLLERS, MANAGERS = {"Viewers", "Operators", "Managers"}, {"Operators", "Managers"}, {"Managers"}
MISSING = uuid.uuid4()

# (method, path, the groups allowed, the status they get). {person} and {image} are filled in.
PAGES = [
    ("GET", "/", VIEWERS | {None}, 200),
    ("GET", "/enrol/", ENROLLERS, 200),
    ("GET", "/match/", ENROLLERS, 200),
    ("GET", "/live/", ENROLLERS, 200),
    # No frame: refused as a frame (400) once the permission passes.
    ("POST", "/live/frame", ENROLLERS, 400),
    ("GET", "/people/", VIEWERS, 200),
    ("GET", "/people/{person}/", VIEWERS, 200),
    # An empty form: refused as a form (200, "This field is required.") once the permission passes.
    ("POST", "/people/{person}/", ENROLLERS, 200),
    # Everything held about them (photos, vectors, audit events): Managers only (export_person).
    ("GET", "/people/{person}/export/", MANAGERS, 200),
    ("GET", "/people/{person}/delete/", MANAGERS, 200),
    # A photo that is not theirs: the permission is checked before the photo is looked up.
    ("POST", f"/people/{{person}}/photos/{MISSING}/remove/", MANAGERS, 404),
    ("GET", "/photos/{image}/", VIEWERS, 200),
    ("GET", "/photos/{image}/face.jpg", VIEWERS, 200),
]


def log_in(base_url: str, username: str) -> requests.Session:
    """A browser-like session logged in through the login form."""
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=30)
    token = session.cookies["csrftoken"]
    response = session.post(
        f"{base_url}/accounts/login/", {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False, timeout=30,
    )
    assert response.status_code == 302, response.text[:300]
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


@pytest.fixture
def alice(photo, face_service):
    return enrolment.enrol("Colin Powell", photo(ALICE, 0))


@pytest.mark.parametrize("group", GROUPS)
def test_every_page_for_each_group(live_server, member, alice, group):
    user = member(group)
    session = log_in(live_server.url, user.username)
    answers, expected = {}, {}
    for method, path, allowed, status in PAGES:
        url = path.format(person=alice.person.pk, image=alice.image.pk)
        response = session.request(method, live_server.url + url, allow_redirects=False, timeout=60)
        answers[(method, path)] = response.status_code
        expected[(method, path)] = status if group in allowed else 403
        if response.status_code == 403:
            # Our page, inside the site's layout, not Django's bare "403 Forbidden".
            assert "Not allowed" in response.text and 'class="topbar"' in response.text
    assert answers == expected
    assert alice.person.images.count() == 1  # nothing was removed or added


def test_anonymous_users_go_to_the_login_page(live_server, alice):
    for method, path, _, _ in PAGES[1:]:
        url = path.format(person=alice.person.pk, image=alice.image.pk)
        response = requests.request(method, live_server.url + url, allow_redirects=False, timeout=30)
        if method == "GET":
            assert (response.status_code, response.headers["Location"]) == (302, f"/accounts/login/?next={url}")
        else:
            assert response.status_code == 403  # no CSRF cookie: refused before the view


def navigation(html: str) -> list[str]:
    nav = re.search(r'<nav class="nav"[^>]*>(.*?)</nav>', html, re.S).group(1)
    return re.findall(r">([A-Za-z]+)</a>", nav)


NAVIGATION = {
    "Viewers": ["People"],
    "Operators": ["Enrol", "Match", "Live", "People"],
    "Managers": ["Enrol", "Match", "Live", "People", "Inbox"],
    None: [],
}
# What the person's page offers: delete the person, remove a photo, add photos, export.
PERSON_PAGE = {
    "Viewers": (False, False, False, False),
    "Operators": (False, False, True, False),
    "Managers": (True, True, True, True),
}


@pytest.mark.parametrize("group", GROUPS)
def test_the_navigation_and_buttons_show_what_the_group_may_do(live_server, member, alice, group):
    session = log_in(live_server.url, member(group).username)
    home = session.get(f"{live_server.url}/", timeout=30).text
    assert navigation(home) == NAVIGATION[group]
    cards = re.findall(r'<a class="card" href="/([a-z]+)/"', home)
    assert cards == [name.lower() for name in NAVIGATION[group]]
    assert ("administrator gives it a group" in home) == (group is None)
    if group is None:
        return
    page = session.get(f"{live_server.url}/people/{alice.person.pk}/", timeout=30).text
    offers = ("/delete/" in page, "/remove/" in page, "Add photos" in page, "/export/" in page)
    assert offers == PERSON_PAGE[group]
    people = session.get(f"{live_server.url}/people/", timeout=30).text
    assert ('href="/enrol/"' in people) == (group != "Viewers")


@pytest.mark.django_db  # not transactional: runs before any flush, on the migrated database
def test_the_data_migrations_made_the_three_groups():
    permissions = {
        group.name: sorted(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()
    }
    view = ["view_faceimage", "view_person"]
    assert permissions == {
        "Viewers": view,
        "Operators": sorted([*view, "add_faceimage", "add_person", "match_person"]),
        "Managers": sorted([*view, "add_faceimage", "add_person", "match_person", "change_faceimage",
                            "change_person", "delete_faceimage", "delete_person", "export_person",
                                "review_unknown"]),
    }
