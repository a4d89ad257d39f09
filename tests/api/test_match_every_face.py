"""POST /records/match with faces=all on real photos: the group photos of the samples and
composites of LFW portraits of different people. Every enrolled face is named right, strangers
are unknown, and nobody is named twice."""

import pytest

from audit.models import AuditEvent
from tests.images import tiled

from .samples import upload

pytestmark = pytest.mark.django_db

# Enrolled from their first LFW photo, shown in the composites by their second.
KNOWN = ["Colin_Powell", "Tony_Blair", "Hugo_Chavez"]
# One LFW photo each: never enrolled.
STRANGERS = ["Aaron_Eckhart", "Abbas_Kiarostami", "Abdullah_Ahmad_Badawi"]
# Who the group photos show, and the single-face photos they are enrolled from.
SAMPLE_PHOTOS = {
    "Barack_Obama": "face_recognition/examples/knn_examples/train/obama/obama.jpg",
    "Joe_Biden": "face_recognition/examples/knn_examples/train/biden/biden.jpg",
    "Kit_Harington": "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg",
    "Rose_Leslie": "face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg",
}
GROUPS = {"obama_and_biden.jpg": {"Barack_Obama", "Joe_Biden"}, "kit_with_rose.jpg": {"Kit_Harington", "Rose_Leslie"}}


def match_all(api, data: bytes, **fields) -> dict:
    response = api.post("/records/match", {"image": upload(data), "faces": "all", **fields}, format="multipart")
    assert response.status_code == 200, response.json()
    return response.json()


def named(body: dict) -> list[str]:
    return [face["best_match"]["name"] for face in body["results"] if face["recognized"]]


def tile_of(face: dict, columns: int, side: int = 160) -> int:
    """Which tile of a composite a face lies in, from its centre."""
    x, y, width, height = face["face_box"]
    return int((y + height / 2) // side) * columns + int((x + width / 2) // side)


@pytest.fixture
def everybody(enrol, photo, faces_dir):
    """The LFW people of KNOWN and the people of the group photos, enrolled."""
    people = {name: enrol(name, photo(name, 0)) for name in KNOWN}
    for name, path in SAMPLE_PHOTOS.items():
        people[name] = enrol(name, (faces_dir / "samples" / path).read_bytes())
    return people


@pytest.mark.parametrize("group, expected", GROUPS.items())
def test_every_enrolled_face_of_a_group_photo_is_named(api, everybody, faces_dir, group, expected):
    body = match_all(api, (faces_dir / "samples/group" / group).read_bytes())

    assert set(named(body)) == expected
    assert len(named(body)) == len(expected)
    assert body["faces_detected"] == len(body["results"]) >= len(expected)
    assert body["faces_truncated"] is False
    areas = [face["face_box"][2] * face["face_box"][3] for face in body["results"]]
    assert areas == sorted(areas, reverse=True)
    for face in body["results"]:
        assert face["recognized"] == (face["best_match"] is not None)
        assert set(face) >= {"face_box", "detection_score", "top_matches", "runner_up_ratio"}


@pytest.mark.parametrize("group", ["couple.jpg", "selfie-many-people.jpg"])
def test_nobody_enrolled_is_named_in_a_photo_of_strangers(api, everybody, faces_dir, group):
    body = match_all(api, (faces_dir / "samples/group" / group).read_bytes())

    assert len(body["results"]) >= 2
    assert named(body) == []


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6])
def test_a_composite_of_enrolled_people_and_strangers(api, everybody, photo, count):
    shown = [name for pair in zip(KNOWN, STRANGERS) for name in pair][:count]  # known, stranger, known, ...
    columns = 3
    data = tiled([photo(name, 1 if name in KNOWN else 0) for name in shown], columns=columns)

    body = match_all(api, data)

    assert len(body["results"]) == count
    by_tile = {tile_of(face, columns): face for face in body["results"]}
    assert sorted(by_tile) == list(range(count))
    for number, name in enumerate(shown):
        face = by_tile[number]
        if name in KNOWN:
            assert face["recognized"] and face["best_match"]["name"] == name, (name, face["top_matches"][:2])
        else:
            assert not face["recognized"], (name, face["best_match"])
    assert sorted(named(body)) == sorted(name for name in shown if name in KNOWN)


def test_the_same_person_twice_is_named_once_on_the_nearer_face(api, everybody, photo):
    data = tiled([photo("Tony_Blair", 1), photo(STRANGERS[0], 0), photo("Tony_Blair", 2)], columns=3)

    body = match_all(api, data)

    faces = {tile_of(face, 3): face for face in body["results"]}
    twice = [faces[0], faces[2]]
    # Both faces have Tony Blair nearest, within the threshold...
    assert all(f["top_matches"][0]["name"] == "Tony_Blair" and f["top_matches"][0]["within_threshold"] for f in twice)
    # ... and only the nearer one is named; the other falls to its next candidate, nobody here.
    nearer, farther = sorted(twice, key=lambda f: f["top_matches"][0]["distance"])
    assert nearer["best_match"]["name"] == "Tony_Blair"
    assert farther["recognized"] is False and farther["best_match"] is None
    assert named(body) == ["Tony_Blair"]
    event = AuditEvent.objects.get(action="match")
    assert event.target == nearer["best_match"]["id"] and event.detail["named"] == [event.target]


def test_the_largest_faces_up_to_the_limit_are_identified(api, everybody, photo, settings):
    settings.MAX_FACES_PER_PHOTO = 2
    data = tiled([photo(name, 1) for name in KNOWN] + [photo(STRANGERS[0], 0)], columns=2)

    body = match_all(api, data)

    assert body["faces_detected"] == 4
    assert body["faces_truncated"] is True
    assert len(body["results"]) == 2


def test_only_the_faces_kept_are_embedded(api, everybody, photo, settings, face_service, monkeypatch):
    """Cut before embedding, not after: a photo of 64 faces costs MAX_FACES_PER_PHOTO embeddings."""
    settings.MAX_FACES_PER_PHOTO = 2
    data = tiled([photo(name, 1) for name in KNOWN] + [photo(STRANGERS[0], 0)], columns=2)
    embedded = []
    real_embed = face_service.pipeline.embed
    monkeypatch.setattr(face_service.pipeline, "embed", lambda crops: embedded.append(len(crops)) or real_embed(crops))

    body = match_all(api, data)

    assert len(body["results"]) == 2 and body["faces_detected"] == 4
    assert embedded == [2]


def test_the_default_is_the_largest_face_answered_as_before(api, everybody, faces_dir):
    data = (faces_dir / "samples/group/obama_and_biden.jpg").read_bytes()
    default = api.post("/records/match", {"image": upload(data)}, format="multipart").json()
    largest = api.post("/records/match", {"image": upload(data), "faces": "largest"}, format="multipart").json()

    assert "results" not in default and "faces_truncated" not in default
    assert default["faces_detected"] == 3 and len(default["faces"]) == 3
    for body in (default, largest):
        body.pop("processing_time_ms")
        assert body.pop("match_id")  # each match its own (its named faces kept for feedback)
    assert default == largest
    all_faces = match_all(api, data)
    assert default["best_match"] == all_faces["results"][0]["best_match"]
    assert default["face_box"] == all_faces["results"][0]["face_box"]


def test_an_unknown_faces_value_is_a_400(api, everybody, photo):
    response = api.post("/records/match", {"image": upload(photo("Tony_Blair", 1)), "faces": "some"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("faces:")


def test_no_face_is_a_422_with_every_face_too(api, everybody, no_face_photo):
    response = api.post("/records/match", {"image": upload(no_face_photo), "faces": "all"}, format="multipart")
    assert response.status_code == 422
    assert response.json()["face_detected"] is False


def test_a_match_only_caller_sees_only_the_candidates_within_the_threshold_of_each_face(everybody, photo):
    from access.scopes import MATCH, READ
    from tests.keys import key_client

    data = tiled([photo("Colin_Powell", 1), photo(STRANGERS[0], 0)], columns=2)

    def every_face(scopes):
        response = key_client("-".join(scopes), scopes).post(
            "/records/match", {"image": upload(data), "faces": "all"}, format="multipart"
        )
        assert response.status_code == 200, response.json()
        return response.json()

    full, limited = every_face([MATCH, READ]), every_face([MATCH])

    for whole, seen in zip(full["results"], limited["results"]):
        assert seen["best_match"] == whole["best_match"]
        assert seen["top_matches"] == [c for c in whole["top_matches"] if c["within_threshold"]]
    # Colin Powell's face keeps its one candidate, the stranger's none.
    assert sorted(len(face["top_matches"]) for face in limited["results"]) == [0, 1]
