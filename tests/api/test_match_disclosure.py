"""Matching discloses no more than the caller may read. A key with `read` (and so an `all` key,
the original contract's client) gets the nearest people within the threshold or not; a key that
may only match gets only the candidates within the threshold, and may not raise the threshold
above MATCH_MAX_THRESHOLD. The page shows below-threshold candidates only to users who may view
people. Real photos, real requests."""

import pytest
from pytest_django.asserts import assertContains, assertNotContains

from access.scopes import MATCH, READ
from audit.models import AuditEvent
from recognition.policy import MatchPolicy
from recognition.service import get_service
from tests.keys import key_client

from .samples import upload

pytestmark = pytest.mark.django_db

ENROLLED = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Serena_Williams"]


@pytest.fixture
def gallery(enrol, photo):
    return {identity: str(enrol(identity.replace("_", " "), photo(identity, 0)).pk) for identity in ENROLLED}


def match(client, data: bytes, **fields):
    response = client.post("/records/match", {"image": upload(data), **fields}, format="multipart")
    return response.status_code, response.json()


@pytest.mark.parametrize("scopes", [["all"], [MATCH, READ]], ids=["all", "match+read"])
def test_a_caller_who_may_read_gets_the_nearest_people_within_the_threshold_or_not(gallery, photo, scopes):
    status, body = match(key_client("reader", scopes), photo("Colin_Powell", 1), top_k=4)

    assert status == 200, body
    assert body["best_match"]["id"] == gallery["Colin_Powell"]
    assert [candidate["id"] for candidate in body["top_matches"]][0] == gallery["Colin_Powell"]
    assert len(body["top_matches"]) == 4
    assert [candidate["within_threshold"] for candidate in body["top_matches"]] == [True, False, False, False]


def test_a_match_only_caller_gets_the_same_answer_without_the_others(gallery, photo):
    reader = key_client("reader", [READ, MATCH])
    camera = key_client("door camera", [MATCH])

    _, full = match(reader, photo("Colin_Powell", 1), top_k=4)
    status, limited = match(camera, photo("Colin_Powell", 1), top_k=4)

    assert status == 200, limited
    assert limited["top_matches"] == full["top_matches"][:1]  # the within-threshold one, unchanged
    assert set(limited) == set(full)  # the same shape
    for field in ("recognized", "best_match", "threshold", "model", "face_box", "faces_detected"):
        assert limited[field] == full[field]
    # What the audit log says was returned is what was.
    event = AuditEvent.objects.filter(action="match", actor__startswith="door camera").get()
    assert event.detail["returned"] == [gallery["Colin_Powell"]]


def test_a_stranger_shown_to_a_match_only_caller_reveals_nobody(gallery, photo):
    status, body = match(key_client("door camera", [MATCH]), photo("John_Ashcroft", 0), top_k=5)

    assert status == 200, body
    assert body["recognized"] is False and body["best_match"] is None
    assert body["top_matches"] == []


def test_a_match_only_caller_may_not_raise_the_threshold_above_the_limit(gallery, photo, unchanged):
    camera = key_client("door camera", [MATCH])
    limit = MatchPolicy.of(get_service().model_key).match_max_threshold
    assert limit == 0.6345  # ArcFace-MBF's 1%-of-strangers point (recognition/calibration.py)

    with unchanged():
        status, body = match(camera, photo("Colin_Powell", 1), threshold=1.5)

    assert status == 400
    assert body == {
        "detail": f"threshold: 1.5 is above MATCH_MAX_THRESHOLD ({limit}), the most a caller that may not "
        "read people may ask for."
    }
    status, body = match(camera, photo("Colin_Powell", 1), threshold=limit)
    assert status == 200 and body["threshold"] == limit
    # A reader may ask for any threshold (the original contract).
    status, body = match(key_client("reader", [READ, MATCH]), photo("Colin_Powell", 1), threshold=1.5, top_k=4)
    assert status == 200 and len(body["top_matches"]) == 4


def test_the_limit_is_a_setting(gallery, photo, settings):
    settings.MATCH_MAX_THRESHOLD = 0.3
    camera = key_client("door camera", [MATCH])

    status, body = match(camera, photo("Colin_Powell", 1), threshold=0.35)

    assert status == 400 and "MATCH_MAX_THRESHOLD (0.3)" in body["detail"]


@pytest.fixture
def page_user(client, member):
    def login(group: str):
        client.force_login(member(group))
        return client

    return login


def match_page(client, photo, identity: str, path: str = "/match/", **fields):
    return client.post(path, {"photo": upload(photo(identity, 1)), **fields})


def test_the_candidates_view_shows_other_candidates_to_those_who_may_view_people(gallery, photo, page_user):
    operator = page_user("Operators")
    # The plain match names the match only: candidates below the threshold are asked for (issue 19).
    plain = match_page(operator, photo, "Colin_Powell")
    assert plain.status_code == 200
    assertContains(plain, "Colin Powell")
    assertNotContains(plain, "Other candidates")

    response = match_page(operator, photo, "Colin_Powell", path="/match/candidates/")

    assert response.status_code == 200
    assertContains(response, "Colin Powell")
    assertContains(response, "Other candidates")
    assertContains(response, "Tony Blair")


def test_the_match_page_shows_only_the_match_to_those_who_may_only_match(gallery, photo, client, member):
    from django.contrib.auth.models import Permission

    matcher = member(None, "matcher")
    matcher.user_permissions.add(Permission.objects.get(codename="match_person"))
    client.force_login(matcher)

    response = match_page(client, photo, "Colin_Powell")

    assert response.status_code == 200
    assertContains(response, "Colin Powell")
    assertNotContains(response, "Other candidates")
    for other in ("Tony Blair", "George W Bush", "Serena Williams"):
        assertNotContains(response, other)
    refused = match_page(client, photo, "Colin_Powell", threshold="1.5")
    assertContains(refused, "is above MATCH_MAX_THRESHOLD")
