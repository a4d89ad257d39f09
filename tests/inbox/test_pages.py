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


def _upload(identity: str, number: int, photo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(f"{identity}_{number}.jpg", photo(identity, number), content_type="image/jpeg")


def test_a_recognition_is_confirmed_from_the_match_page_and_corrected_from_recent_recognitions(manager, enrol, photo):
    from inbox.models import MatchedFace

    powell = enrol("Colin Powell", photo(POWELL, 0))
    result = manager.post("/match/", {"photo": _upload(POWELL, 1, photo)})
    html = result.content.decode()
    kept = MatchedFace.objects.get()
    assert f"/inbox/recognitions/{kept.match_id}/0/feedback/" in html and "Not this person" in html
    confirmed = manager.post(f"/inbox/recognitions/{kept.match_id}/0/feedback/", {"correct": "yes", "next": "/match/"})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/match/"
    assert powell.images.count() == 2
    manager.post("/match/", {"photo": _upload(POWELL, 2, photo)})
    recent = manager.get("/inbox/recognitions/")
    assert recent.status_code == 200
    page = recent.content.decode()
    assert page.count('class="recognition"') == 2 and "Confirmed." in page
    second = MatchedFace.objects.get(feedback="")
    crop = manager.get(f"/inbox/recognitions/{second.pk}.jpg")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    wrong = manager.post(f"/inbox/recognitions/{second.match_id}/0/feedback/", {"correct": "no", "next": "https://elsewhere.example/"})
    assert wrong["Location"] == "/inbox/recognitions/"  # never back to another site
    second.refresh_from_db()
    assert second.feedback == "wrong"
    again = manager.post(f"/inbox/recognitions/{second.match_id}/0/feedback/", {"correct": "yes"})
    assert again.status_code == 302 and MatchedFace.objects.get(pk=second.pk).feedback == "wrong"  # once
    assert manager.post(f"/inbox/recognitions/{second.match_id}/0/feedback/", {"correct": "maybe"}).status_code == 302
    assert manager.post(f"/inbox/recognitions/{second.match_id}/5/feedback/", {"correct": "no"}).status_code == 404


@pytest.mark.parametrize("group", ["Viewers", "Operators"])
def test_only_reviewers_see_recent_recognitions_and_give_feedback(client, member, group, enrol, photo):
    client.force_login(member(group, "someone"))
    assert client.get("/inbox/recognitions/").status_code == 403
    assert client.post("/inbox/recognitions/00000000-0000-0000-0000-000000000000/0/feedback/", {"correct": "no"}).status_code == 403
    if group == "Operators":  # they may match: the result offers them no feedback
        enrol("Colin Powell", photo(POWELL, 0))
        result = client.post("/match/", {"photo": _upload(POWELL, 1, photo)})
        assert "Colin Powell" in result.content.decode() and "Not this person" not in result.content.decode()
