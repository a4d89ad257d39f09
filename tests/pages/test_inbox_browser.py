"""The Inbox in Chromium at a phone's width and a desktop's, with real LFW faces of two people never
enrolled kept by real matches in two clusters: the grids of crops render (every crop loaded), and
splitting, merging, naming and dismissing are done by clicking, with no console error, no failed
request and nothing wider than the screen (tests/conftest.py Watched). The same actions through
Django's client and the API: tests/inbox."""

import re

import pytest
from playwright.sync_api import expect

from inbox.models import UnknownCluster, UnknownFace
from records.models import Collection, Person
from records.usecases import matching

from .helpers import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def kept(photo):
    """Four unnamed matches of Colin Powell and two of Tony Blair, interleaved, kept by `default`:
    the kept face ids by person."""
    collection = Collection.default()
    collection.keep_unknown_faces = True
    collection.save()
    faces = {ALICE: [], BOB: []}
    for who, number in [(ALICE, 0), (BOB, 0), (ALICE, 1), (BOB, 1), (ALICE, 2), (ALICE, 3)]:
        faces[who].append(matching.match(photo(who, number), top_k=1).unknown_face_id)
    return faces


def cluster_of(page, face_id: str):
    """The section of the page whose grid shows this face."""
    return page.locator("section.cluster").filter(has=page.locator(f'img[src="/inbox/faces/{face_id}.jpg"]'))


def every_crop_shown(page) -> bool:
    return page.evaluate("() => Array.from(document.images).every((img) => img.complete && img.naturalWidth > 0)")


def test_the_inbox_grids_and_their_actions_by_clicking(manager_site, live_server, kept, photo):
    site, page = manager_site, manager_site.page
    powell, blair = kept[ALICE], kept[BOB]
    site.goto(f"{live_server.url}/inbox/")
    expect(page.locator("section.cluster h2 label")).to_have_text(["4 faces", "2 faces"])
    expect(cluster_of(page, powell[0]).locator("img")).to_have_count(4)
    expect(cluster_of(page, blair[0]).locator("img")).to_have_count(2)
    page.wait_for_load_state("networkidle")  # the crops are loaded lazily
    assert every_crop_shown(page)
    site.check()

    # Split: two of Colin Powell's faces selected, then the button of their grid.
    grid = cluster_of(page, powell[0])
    for face in powell[:2]:
        grid.locator(f'input[name="face"][value="{face}"]').check()
    grid.get_by_role("button", name="Split off the selected faces").click()
    expect(page.locator(".alert--success")).to_have_text("The faces selected are a cluster of their own.")
    expect(page.locator("section.cluster")).to_have_count(3)
    assert cluster_of(page, powell[0]).locator("img").count() == cluster_of(page, powell[2]).locator("img").count() == 2
    assert UnknownFace.objects.get(pk=powell[0]).cluster_id != UnknownFace.objects.get(pk=powell[2]).cluster_id
    site.check()

    # Merge: the two halves selected by their headings' boxes.
    for face in (powell[0], powell[2]):
        cluster_of(page, face).locator('input[name="cluster"]').check()
    page.get_by_role("button", name="Merge the selected groups").click()
    expect(page.locator(".alert--success")).to_have_text("2 clusters were merged.")
    expect(page.locator("section.cluster h2 label")).to_have_text(["4 faces", "2 faces"])
    assert len({UnknownFace.objects.get(pk=face).cluster_id for face in powell}) == 1
    site.check()

    # Name: Colin Powell is enrolled from his faces, and a new photo of him is recognised.
    grid = cluster_of(page, powell[0])
    grid.get_by_label("Name").fill("Colin Powell")
    grid.get_by_role("button", name="Enrol this person").click()
    page.wait_for_url(re.compile(r"/people/[0-9a-f-]+/$"))
    person = Person.objects.get(name="Colin Powell")
    expect(page.locator("h1")).to_have_text("Colin Powell")
    assert person.images.count() == 4 and not UnknownFace.objects.filter(pk__in=powell).exists()
    recognised = matching.match(photo(ALICE, 4), top_k=1)
    assert recognised.recognized and recognised.best_match.id == str(person.pk)
    site.check()

    # Dismiss: Tony Blair's faces are erased.
    site.goto(f"{live_server.url}/inbox/")
    expect(page.locator("section.cluster")).to_have_count(1)
    cluster_of(page, blair[0]).get_by_role("button", name="Dismiss: erase these faces").click()
    expect(page.get_by_text("No suggested people yet.")).to_be_visible()
    assert not UnknownFace.objects.exists() and not UnknownCluster.objects.exists()
    site.check()
