"""The review inbox's API on real LFW photos of people never enrolled: their unknown faces grouped
into one cluster per person, named (then recognised in a new photo), added to someone, split,
merged, dismissed (faces gone), each with the scopes it needs."""

import pytest
from django.core.files.storage import default_storage

from inbox.index import index_key
from inbox.models import UnknownCluster, UnknownFace
from recognition.vectors.indexes import get_vector_index
from recognition.models import FaceVector
from audit.models import AuditEvent
from records.models import FaceImage, Person
from tests.keys import key_client

POWELL, BLAIR = "Colin_Powell", "Tony_Blair"


@pytest.fixture
def seen(keeping, match, photo):
    """Three unnamed matches of Colin Powell and two of Tony Blair, interleaved: kept face ids by person."""
    kept = {POWELL: [], BLAIR: []}
    for who, number in [(POWELL, 0), (BLAIR, 0), (POWELL, 1), (BLAIR, 1), (POWELL, 2)]:
        kept[who].append(match(photo(who, number))["unknown_face_id"])
    return kept


def clusters_of(client, **query):
    response = client.get("/unknown-faces/clusters", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_faces_of_two_people_never_enrolled_make_two_clusters_largest_first(api, seen):
    found = clusters_of(api)
    assert [c["size"] for c in found] == [3, 2]
    assert {f["id"] for f in found[0]["faces"]} == set(seen[POWELL])
    assert {f["id"] for f in found[1]["faces"]} == set(seen[BLAIR])
    assert found[0]["collection"] == "default" and found[0]["first_seen"] <= found[0]["last_seen"]
    assert clusters_of(api, min_faces=3) == found[:1]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.READ_UNKNOWN).exists()
    # An empty ?collection= names no collection: refused, not read as "every collection".
    assert api.get("/unknown-faces/clusters?collection=").status_code == 400


def test_a_face_crop_is_served_and_its_reading_audited(api, seen):
    face = seen[POWELL][0]
    response = api.get(f"/unknown-faces/{face}/image")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.READ_UNKNOWN, target=face).exists()
    assert api.get("/unknown-faces/not-an-id/image").status_code == 404


def test_a_crop_whose_file_is_missing_is_a_404_and_no_read(api, seen):
    face = UnknownFace.objects.get(pk=seen[BLAIR][0])
    default_storage.delete(face.crop.name)
    response = api.get(f"/unknown-faces/{face.pk}/image")
    assert response.status_code == 404 and response.json()["detail"] == "The file of this face is missing."
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.READ_UNKNOWN, target=face.pk).exists()


def test_naming_a_cluster_enrols_them_and_a_new_photo_of_them_is_recognised(api, seen, match, photo):
    [powell, _] = clusters_of(api)
    response = api.post(f"/unknown-faces/clusters/{powell['id']}/enrol", {"name": "Colin Powell"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    person = Person.objects.get(pk=body["record_id"])
    assert person.name == "Colin Powell" and body["record"]["name"] == "Colin Powell"
    assert FaceImage.objects.filter(person=person).count() == len(body["photos"]) == 3
    assert not UnknownCluster.objects.filter(pk=powell["id"]).exists()
    assert not UnknownFace.objects.filter(pk__in=seen[POWELL]).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW_UNKNOWN, target=str(person.pk))
    assert set(event.detail["from_unknown_faces"]) == set(seen[POWELL])  # where each photo came from
    answer = match(photo(POWELL, 3))
    assert answer["recognized"] is True and answer["best_match"]["id"] == str(person.pk)
    assert "unknown_face_id" not in answer


def test_naming_needs_enrol_as_well_as_review(db, seen):
    [powell, _] = clusters_of(key_client("reviewer", scopes=["review"]))
    reviewer = key_client("reviewer-2", scopes=["review"])
    response = reviewer.post(f"/unknown-faces/clusters/{powell['id']}/enrol", {"name": "X"}, format="json")
    assert response.status_code == 403 and response.json()["required_scope"] == "enrol"
    assert key_client("matcher", scopes=["match", "read", "enrol"]).get("/unknown-faces/clusters").status_code == 403
    both = key_client("both", scopes=["review", "enrol"])
    named = both.post(f"/unknown-faces/clusters/{powell['id']}/enrol", {"name": "Colin Powell"}, format="json")
    assert named.status_code == 201 and "record" not in named.json()  # the name is `read`'s to see


def test_assigning_a_cluster_adds_its_faces_to_the_person(api, seen, enrol, photo):
    blair = enrol("Tony Blair", photo(BLAIR, 5))
    cluster = next(c for c in clusters_of(api) if c["size"] == 2)
    response = api.post(f"/unknown-faces/clusters/{cluster['id']}/assign", {"record_id": str(blair.pk)}, format="json")
    assert response.status_code == 200, response.content
    assert blair.images.count() == 3 and response.json()["refused"] == []
    assert not UnknownCluster.objects.filter(pk=cluster["id"]).exists()


def test_dismissing_a_cluster_erases_its_faces_crops_and_vectors(api, seen, face_service, django_capture_on_commit_callbacks):
    cluster = next(c for c in clusters_of(api) if c["size"] == 3)
    crops = list(UnknownFace.objects.filter(cluster_id=cluster["id"]).values_list("crop", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/unknown-faces/clusters/{cluster['id']}")
    assert response.status_code == 200 and response.json()["faces_erased"] == 3
    assert not UnknownFace.objects.filter(pk__in=seen[POWELL]).exists()
    assert not any(default_storage.exists(name) for name in crops)
    vectors = FaceVector.objects.filter(model_key=index_key(face_service.model_key))
    assert vectors.count() == 2  # Blair's only
    assert get_vector_index(index_key(face_service.model_key)).count() == 2
    erased = AuditEvent.objects.get(action=AuditEvent.Action.ERASE_UNKNOWN)
    assert erased.detail["reason"] == "dismissed" and set(erased.detail["faces"]) == set(seen[POWELL])
    assert api.delete(f"/unknown-faces/clusters/{cluster['id']}").status_code == 404


def test_split_then_merge(api, seen, keeping, match, photo):
    powell = next(c for c in clusters_of(api) if c["size"] == 3)
    moved = seen[POWELL][:1]
    split = api.post(f"/unknown-faces/clusters/{powell['id']}/split", {"face_ids": moved}, format="json")
    assert split.status_code == 201, split.content
    new = split.json()
    assert [f["id"] for f in new["faces"]] == moved
    assert FaceVector.objects.get(pk=UnknownFace.objects.get(pk=moved[0]).face_vector_id).owner_id.hex == new["id"].replace("-", "")
    everything = api.post(f"/unknown-faces/clusters/{powell['id']}/split", {"face_ids": seen[POWELL][1:]}, format="json")
    assert everything.status_code == 400  # one face at least stays
    merged = api.post("/unknown-faces/clusters/merge", {"cluster_ids": [powell["id"], new["id"]]}, format="json")
    assert merged.status_code == 200, merged.content
    assert merged.json()["id"] == powell["id"] and merged.json()["size"] == 3
    assert not UnknownCluster.objects.filter(pk=new["id"]).exists()
    # A new photo of Powell joins the merged cluster through the inbox's index.
    joined = match(photo(POWELL, 4))["unknown_face_id"]
    assert str(UnknownFace.objects.get(pk=joined).cluster_id) == powell["id"]
    assert api.post("/unknown-faces/clusters/merge", {"cluster_ids": [powell["id"]]}, format="json").status_code == 400


def test_erasing_one_face(api, seen):
    face = seen[BLAIR][0]
    assert api.delete(f"/unknown-faces/{face}").status_code == 200
    assert not UnknownFace.objects.filter(pk=face).exists()
    assert api.delete(f"/unknown-faces/{face}").status_code == 404


def test_a_key_limited_to_another_collection_sees_no_cluster(db, seen):
    from records.models import Collection

    Collection.objects.create(name="elsewhere")
    limited = key_client("limited", scopes=["review"], collections=["elsewhere"])
    assert clusters_of(limited) == []
    cluster = UnknownCluster.objects.first()
    assert limited.delete(f"/unknown-faces/clusters/{cluster.pk}").status_code == 404
