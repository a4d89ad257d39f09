"""Feedback on a recognition, on real LFW photos: a match that names someone gives a match_id; a
reviewer confirms (the face becomes their photo, not when it is a copy of one) or says "not this
person" (never named for that face again, nor for a face more like it than like them; the face
goes to the right person or to the inbox); expiry erases, MATCH_FEEDBACK_HOURS=0 keeps nothing,
scopes and collection limits hold."""

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from audit.models import AuditEvent
from inbox.models import KeptMatch, MatchedFace, NotThem, UnknownFace
from recognition.models import FaceVector
from recognition.vectors.indexes import purpose_key
from records.models import Collection
from records.usecases.matching import NOT_THEM
from records.usecases.merging import merge_people
from tests.keys import key_client

POWELL, BLAIR = "Colin_Powell", "Tony_Blair"
# Nestor Kirchner's photos 0 and 5 are 0.73 and 0.81 from John Ashcroft's photo 1 (the default
# threshold is 0.61): at this looser threshold, with Ashcroft enrolled from it, Kirchner is named
# Ashcroft, the mistake a reviewer corrects. Kirchner's two photos are 0.25 apart.
ASHCROFT, KIRCHNER, LOOSE = "John_Ashcroft", "Nestor_Kirchner", 0.85


@pytest.fixture
def powell(enrol, photo):
    return enrol("Colin Powell", photo(POWELL, 0))


def feedback(client, match_id, **body):
    return client.post(f"/matches/{match_id}/feedback", body, format="json")


def test_a_match_that_names_someone_keeps_the_face_under_a_match_id(api, powell, match, photo):
    answer = match(photo(POWELL, 1))
    assert answer["recognized"] is True and list(answer)[-1] == "match_id"  # only added, last
    face = MatchedFace.objects.get(match_id=answer["match_id"])
    assert face.person == powell and face.position == 0 and default_storage.exists(face.crop.name)
    assert face.vector.shape == (512,)
    event = AuditEvent.objects.filter(action=AuditEvent.Action.MATCH).latest("at")
    assert event.detail["match_id"] == answer["match_id"]
    every = match(photo(POWELL, 2), faces="all")
    assert every["match_id"] and "match_id" not in every["results"][0]
    stranger = match(photo(BLAIR, 0))
    assert stranger["recognized"] is False and "match_id" not in stranger  # nobody named: nothing kept


def test_confirming_adds_the_face_as_their_photo_once_and_a_copy_is_refused(api, powell, match, photo):
    answer = match(photo(POWELL, 1))
    response = feedback(api, answer["match_id"], correct=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["photo_id"] and body["refused"] is None and powell.images.count() == 2
    assert AuditEvent.objects.get(action=AuditEvent.Action.FEEDBACK).detail["correct"] is True
    assert feedback(api, answer["match_id"], correct=True).status_code == 409  # once per face
    copy = match(photo(POWELL, 0))  # the photo they were enrolled from
    refused = feedback(api, copy["match_id"], correct=True).json()
    assert refused["photo_id"] is None and refused["refused"].startswith("A copy of a photo the person has")
    assert powell.images.count() == 2


@pytest.fixture
def ashcroft(enrol, photo):
    return enrol("John Ashcroft", photo(ASHCROFT, 1))


def test_not_this_person_is_never_named_for_that_face_again_nor_for_a_face_like_it(api, ashcroft, match, photo, face_service):
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert wrong["best_match"]["id"] == str(ashcroft.pk)  # a stranger named at a loose threshold
    second = match(photo(KIRCHNER, 5), threshold=LOOSE)
    assert second["best_match"]["id"] == str(ashcroft.pk)
    response = feedback(api, wrong["match_id"], correct=False)
    assert response.status_code == 200, response.content
    assert response.json()["unknown_face_id"] is None  # `default` does not keep unknown faces
    said_not = NotThem.objects.get(person=ashcroft)
    assert said_not.face_vector.model_key == purpose_key(face_service.model_key, NOT_THEM)
    again = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert again["recognized"] is False and str(ashcroft.pk) not in [c["id"] for c in again["top_matches"]]
    # Kirchner's second photo is nearer to the face said not Ashcroft than to Ashcroft's photo: not him.
    kirchner_5 = MatchedFace.objects.get(match_id=second["match_id"])
    assert 1 - float(kirchner_5.vector @ said_not.face_vector.vector) < second["best_match"]["distance"]
    assert match(photo(KIRCHNER, 5), threshold=LOOSE)["recognized"] is False
    assert match(photo(ASHCROFT, 2))["best_match"]["id"] == str(ashcroft.pk)  # Ashcroft himself still is
    assert feedback(api, wrong["match_id"], correct=True).status_code == 409


def test_not_this_person_but_someone_else_makes_the_face_theirs(api, ashcroft, enrol, match, photo):
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    kirchner = enrol("Nestor Kirchner", photo(KIRCHNER, 3))
    response = feedback(api, wrong["match_id"], correct=False, record_id=str(kirchner.pk))
    assert response.status_code == 200, response.content
    assert response.json()["photo_id"] and kirchner.images.count() == 2
    assert NotThem.objects.get(person=ashcroft).face_of == kirchner
    assert match(photo(KIRCHNER, 0), threshold=LOOSE)["best_match"]["id"] == str(kirchner.pk)
    assert match(photo(KIRCHNER, 5), threshold=LOOSE)["best_match"]["id"] == str(kirchner.pk)
    kirchner.delete()  # erasing the face's own person erases what was said of it
    assert not NotThem.objects.exists()


def test_not_this_person_moves_the_face_to_the_inbox_where_it_is_kept(api, ashcroft, keeping, match, photo):
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    body = feedback(api, wrong["match_id"], correct=False).json()
    kept = UnknownFace.objects.get(pk=body["unknown_face_id"])
    assert default_storage.exists(kept.crop.name)
    # Kirchner's next photo, now not Ashcroft, joins that face's cluster.
    joined = match(photo(KIRCHNER, 5), threshold=LOOSE)["unknown_face_id"]
    assert UnknownFace.objects.get(pk=joined).cluster_id == kept.cluster_id


def test_which_face_of_a_group_match_is_addressed_by_its_place(api, enrol, match, faces_dir):
    samples = faces_dir / "samples"
    obama = enrol("Barack Obama", (samples / "face_recognition/examples/knn_examples/train/obama/obama.jpg").read_bytes())
    biden = enrol("Joe Biden", (samples / "face_recognition/examples/knn_examples/train/biden/biden.jpg").read_bytes())
    group = (samples / "group" / "obama_and_biden.jpg").read_bytes()
    answer = match(group, faces="all")
    named = [face["best_match"]["id"] if face["recognized"] else None for face in answer["results"]]
    assert set(named) >= {str(obama.pk), str(biden.pk)}
    place = named.index(str(biden.pk))
    assert feedback(api, answer["match_id"], correct=False, face=place).status_code == 200
    assert MatchedFace.objects.get(match_id=answer["match_id"], position=place).feedback == "wrong"
    assert MatchedFace.objects.get(match_id=answer["match_id"], position=named.index(str(obama.pk))).feedback == ""
    again = [face["best_match"]["id"] if face["recognized"] else None for face in match(group, faces="all")["results"]]
    assert again[named.index(str(obama.pk))] == str(obama.pk) and str(biden.pk) not in again


def test_expired_and_erased_recognitions(api, powell, match, photo, django_capture_on_commit_callbacks, settings):
    answer = match(photo(POWELL, 1))
    face = MatchedFace.objects.get(match_id=answer["match_id"])
    KeptMatch.objects.filter(pk=answer["match_id"]).update(seen_at=face.match.seen_at - timedelta(hours=25))
    assert feedback(api, answer["match_id"], correct=True).status_code == 404  # expired, purged or not
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired", stdout=open("/dev/null", "w"))
    assert not MatchedFace.objects.exists() and not default_storage.exists(face.crop.name)
    assert AuditEvent.objects.get(action=AuditEvent.Action.PURGE).detail["matched_faces"] == 1
    kept = match(photo(POWELL, 2))
    with django_capture_on_commit_callbacks(execute=True):
        powell.delete()  # erasing the person erases the faces kept as named them
    assert not MatchedFace.objects.filter(match_id=kept["match_id"]).exists()


def test_no_hours_keeps_nothing_and_gives_no_match_id(api, powell, match, photo, settings):
    settings.MATCH_FEEDBACK_HOURS = 0
    answer = match(photo(POWELL, 1))
    assert answer["recognized"] is True and "match_id" not in answer
    assert not KeptMatch.objects.exists() and not MatchedFace.objects.exists()


def test_scopes_collections_and_bad_bodies(api, powell, match, photo):
    answer = match(photo(POWELL, 1))
    match_id = answer["match_id"]
    assert feedback(key_client("matcher", scopes=["match", "read", "enrol"]), match_id, correct=False).status_code == 403
    reviewer = key_client("reviewer", scopes=["review"])
    confirm = feedback(reviewer, match_id, correct=True)
    assert confirm.status_code == 403 and confirm.json()["required_scope"] == "enrol"  # adds a photo
    Collection.objects.create(name="office")
    elsewhere = key_client("office", scopes=["review", "enrol"], collections=["office"])
    assert feedback(elsewhere, match_id, correct=False).status_code == 404  # Powell's collection is not theirs
    for body in [{}, {"correct": "maybe"}, {"correct": True, "record_id": str(powell.pk)}, {"correct": False, "face": -1}]:
        assert feedback(api, match_id, **body).status_code == 400, body
    assert feedback(api, match_id, correct=False, record_id=str(powell.pk)).status_code == 400  # the one named
    assert feedback(api, match_id, correct=False, face=1).status_code == 404
    assert feedback(api, "not-an-id", correct=False).status_code == 404
    assert feedback(api, "00000000-0000-0000-0000-000000000000", correct=False).status_code == 404
    assert api.get(f"/matches/{match_id}/feedback").status_code == 405
    assert not MatchedFace.objects.exclude(feedback="").exists()  # nothing half-written
    assert feedback(reviewer, match_id, correct=False).status_code == 200  # review alone may say "not them"
    assert np.isclose(np.linalg.norm(MatchedFace.objects.get(match_id=match_id).vector), 1.0, atol=1e-3)
    assert FaceVector.objects.filter(owner_id=powell.pk, model_key__endswith=f"#{NOT_THEM}").count() == 1


def test_a_correction_holds_on_milvus_too(milvus_backend, api, ashcroft, match, photo):
    """The faces said "not them" live in a vector index like the people's (`<model key>#not`): on
    Milvus as on FAISS, the next match asks it."""
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert wrong["best_match"]["id"] == str(ashcroft.pk)
    assert feedback(api, wrong["match_id"], correct=False).status_code == 200
    assert match(photo(KIRCHNER, 0), threshold=LOOSE)["recognized"] is False
    assert match(photo(KIRCHNER, 5), threshold=LOOSE)["recognized"] is False


def test_a_person_moved_to_another_collection_takes_the_correction_along(api, ashcroft, match, photo):
    from records.usecases import people

    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert feedback(api, wrong["match_id"], correct=False).status_code == 200
    office = Collection.objects.create(name="office")
    people.change_record(ashcroft, {}, collection=office)
    again = match(photo(KIRCHNER, 0), threshold=LOOSE, collection="office")
    assert again["recognized"] is False  # searched in office only, where what was said of him went too
    assert match(photo(ASHCROFT, 2), collection="office")["best_match"]["id"] == str(ashcroft.pk)
    assert MatchedFace.objects.get(match_id=wrong["match_id"]).collection == office


def test_a_merge_moves_what_reviewers_said_of_the_removed_record_to_the_kept_one(api, ashcroft, enrol, match, photo):
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert feedback(api, wrong["match_id"], correct=False).status_code == 200
    second = enrol("John Ashcroft", photo(ASHCROFT, 2))  # enrolled twice
    merge_people(second.pk, ashcroft.pk)
    said_not = NotThem.objects.get()
    assert said_not.person == second and said_not.face_vector.owner_id == second.pk
    assert MatchedFace.objects.get(match_id=wrong["match_id"]).person == second  # the recognition kept
    again = match(photo(KIRCHNER, 0), threshold=LOOSE)
    assert str(second.pk) not in [candidate["id"] for candidate in again["top_matches"]]
    assert match(photo(ASHCROFT, 1))["best_match"]["id"] == str(second.pk)


def test_a_merge_drops_a_not_them_between_the_two_records(api, ashcroft, enrol, match, photo):
    wrong = match(photo(KIRCHNER, 0), threshold=LOOSE)
    kirchner = enrol("Nestor Kirchner", photo(KIRCHNER, 3))
    feedback(api, wrong["match_id"], correct=False, record_id=str(kirchner.pk))
    assert NotThem.objects.get().face_of == kirchner
    merge_people(ashcroft.pk, kirchner.pk)  # the operator says they are one person after all
    assert not NotThem.objects.exists()
    assert match(photo(KIRCHNER, 0), threshold=LOOSE)["best_match"]["id"] == str(ashcroft.pk)
