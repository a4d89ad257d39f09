"""POST /records/match on real photos: the documented answer, thresholds, top_k, empty gallery."""

import pytest

from recognition.policy import MatchPolicy
from recognition.service import get_service

from .samples import upload

pytestmark = pytest.mark.django_db

GALLERY = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Ariel_Sharon", "Hugo_Chavez"]


@pytest.fixture
def gallery(enrol, photo) -> dict:
    """Five people, each enrolled from their first LFW photo."""
    return {name: enrol(name, photo(name, 0), {"source": "lfw"}) for name in GALLERY}


def match(api, data: bytes, **fields) -> dict:
    response = api.post("/records/match", {"image": upload(data), **fields}, format="multipart")
    assert response.status_code == 200, response.json()
    return response.json()


def test_another_photo_of_an_enrolled_person_is_recognized(api, gallery, photo):
    body = match(api, photo("Tony_Blair", 1))

    blair = gallery["Tony_Blair"]
    service = get_service()
    assert body["recognized"] is True
    assert body["best_match"] == {
        "id": str(blair.pk),
        "name": "Tony_Blair",
        "confidence": body["top_matches"][0]["confidence"],
        "distance": body["top_matches"][0]["distance"],
        "metadata": {"source": "lfw"},
    }
    assert body["top_matches"][0]["within_threshold"] is True
    assert 0.5 < body["best_match"]["confidence"] <= 1
    assert body["face_detected"] is True and body["faces_detected"] == 1
    assert len(body["face_box"]) == 4
    assert [face["face_box"] for face in body["faces"]] == [body["face_box"]]
    assert body["processing_time_ms"] > 0
    assert body["threshold"] == MatchPolicy.of(service.model_key).default_threshold
    assert body["model"] == service.model_key
    # All five people, nearest first, each once.
    distances = [m["distance"] for m in body["top_matches"]]
    assert distances == sorted(distances)
    assert len({m["id"] for m in body["top_matches"]}) == 5


def test_a_stranger_is_not_recognized_but_still_gets_the_nearest_people(api, gallery, lfw_people, photo):
    stranger = next(name for name, photos in lfw_people.items() if len(photos) == 1 and name not in GALLERY)

    body = match(api, photo(stranger, 0), top_k=3)

    assert body["recognized"] is False
    assert body["best_match"] is None
    assert len(body["top_matches"]) == 3
    assert not any(m["within_threshold"] for m in body["top_matches"])


def test_the_threshold_decides_and_is_echoed(api, gallery, photo):
    loose = match(api, photo("Colin_Powell", 1), threshold=2)
    strict = match(api, photo("Colin_Powell", 1), threshold=0)

    assert loose["recognized"] is True and loose["threshold"] == 2
    assert all(m["within_threshold"] for m in loose["top_matches"])
    assert strict["recognized"] is False and strict["best_match"] is None and strict["threshold"] == 0
    assert strict["top_matches"][0]["id"] == loose["top_matches"][0]["id"]


@pytest.mark.parametrize("top_k, expected", [(1, 1), (2, 2), (100, 5)])
def test_top_k_bounds_the_distinct_people_returned(api, gallery, photo, top_k, expected):
    assert len(match(api, photo("George_W_Bush", 1), top_k=top_k)["top_matches"]) == expected


def test_top_k_defaults_to_the_setting(api, gallery, photo, settings):
    settings.TOP_K_MATCHES = 2
    assert len(match(api, photo("George_W_Bush", 1))["top_matches"]) == 2


def test_an_empty_gallery_answers_not_recognized(api, photo):
    body = match(api, photo("George_W_Bush", 0))

    assert body["recognized"] is False
    assert body["best_match"] is None
    assert body["top_matches"] == []
    assert body["face_detected"] is True
