"""The Inbox page: Managers (review_unknown) see the suggested people as grids of crops and name,
split, merge and dismiss them; other groups get the 403 page. Real LFW photos."""

import pytest

from inbox.models import UnknownCluster, UnknownFace
from records.models import Person

from .test_api import BLAIR, POWELL, seen  # noqa: F401 (fixture)


@pytest.fixture
def manager(client, member):
    client.force_login(member("Managers", "manon"))
    return client


@pytest.mark.parametrize("group", ["Viewers", "Operators", None])
def test_only_reviewers_may_open_the_inbox(client, member, group):
    client.force_login(member(group, "someone"))
    assert client.get("/inbox/").status_code == 403


def test_the_inbox_shows_each_suggested_person_as_a_grid_of_crops(manager, seen):
    page = manager.get("/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="cluster"') == 2 and "3 faces" in html and "2 faces" in html
    for face in seen[POWELL] + seen[BLAIR]:
        assert f"/inbox/faces/{face}.jpg" in html
    crop = manager.get(f"/inbox/faces/{seen[POWELL][0]}.jpg")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"


def test_naming_splitting_merging_and_dismissing_from_the_page(manager, seen):
    powell = UnknownFace.objects.get(pk=seen[POWELL][0]).cluster_id
    blair = UnknownFace.objects.get(pk=seen[BLAIR][0]).cluster_id
    manager.post(f"/inbox/{powell}/split/", {"face": [seen[POWELL][0]]})
    assert UnknownFace.objects.get(pk=seen[POWELL][0]).cluster_id != powell
    new = UnknownFace.objects.get(pk=seen[POWELL][0]).cluster_id
    manager.post("/inbox/merge/", {"cluster": [str(powell), str(new)]})
    assert UnknownFace.objects.filter(cluster_id=powell).count() == 3
    named = manager.post(f"/inbox/{powell}/name/", {"name": "Colin Powell"})
    person = Person.objects.get(name="Colin Powell")
    assert named.status_code == 302 and named["Location"] == f"/people/{person.pk}/"
    assert person.images.count() == 3 and not UnknownCluster.objects.filter(pk=powell).exists()
    manager.post(f"/inbox/{blair}/dismiss/")
    assert not UnknownFace.objects.exists()
