"""The record endpoints on real photos: enrol, list, get, change, delete, and photos of a record."""

import hashlib
import uuid
from pathlib import Path

import pytest

from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import FaceImage, Person

from .samples import upload

pytestmark = pytest.mark.django_db


def index_vector_ids() -> set[int]:
    gallery = get_vector_index(get_service().model_key)
    gallery.sync()
    return gallery.vector_ids()


def stored_file(image: FaceImage) -> Path:
    return Path(image.image.path)


def test_enrol_answers_the_documented_record_and_stores_photo_and_vector(api, photo):
    response = api.post(
        "/records",
        {
            "image": upload(photo("George_W_Bush", 0), "john.jpg"),
            "name": "John Doe",
            "metadata": '{"department": "Engineering"}',
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    person = Person.objects.get()
    image = person.images.get()
    assert body == {
        "success": True,
        "message": "Face record created successfully for 'John Doe'",
        "record": {
            "id": str(person.pk),
            "name": "John Doe",
            "metadata": {"department": "Engineering"},
            "created_at": body["record"]["created_at"],
            "embedding_index": image.vector_id,
        },
        "faces_detected": 1,
        # Added beside the original body: the enrolled face's measured quality (docs/api.md).
        "quality": body["quality"],
    }
    assert set(body["quality"]) == {"eye_distance", "sharpness", "yaw", "pitch", "roll"}
    assert body["record"]["created_at"].endswith("Z")
    # The photo's pixels, re-encoded without its metadata (tests/api/test_minimisation.py).
    assert stored_file(image).suffix == ".jpg"
    assert image.sha256 == hashlib.sha256(photo("George_W_Bush", 0)).hexdigest()
    assert index_vector_ids() == {image.vector_id}


def test_enrol_of_a_group_photo_enrols_one_face_and_says_how_many_there_were(api, two_faces_photo):
    response = api.post("/records", {"image": upload(two_faces_photo), "name": "Kit"}, format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["faces_detected"] == 2
    assert "2 faces detected; the largest was enrolled" in body["message"]
    assert FaceImage.objects.get().faces_detected == 2


def test_list_is_oldest_first_paginated_and_counts_everything(api, enrol, photo):
    names = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]
    people = [enrol(name, photo(name, 0)) for name in names]

    everything = api.get("/records").json()
    page = api.get("/records", {"skip": 1, "limit": 1}).json()
    beyond = api.get("/records", {"skip": 10}).json()

    assert everything["total_count"] == 3
    assert [r["name"] for r in everything["records"]] == names
    assert everything["records"][0] == {
        "id": str(people[0].pk),
        "name": "George_W_Bush",
        "metadata": {},
        "created_at": everything["records"][0]["created_at"],
        "embedding_index": people[0].embedding_index,
    }
    assert page == {"total_count": 3, "records": [everything["records"][1]]}
    assert beyond == {"total_count": 3, "records": []}


def test_list_runs_a_fixed_number_of_queries_whatever_the_page_size(
    api, enrol, add_photo, photo, django_assert_num_queries
):
    for name in ["George_W_Bush", "Colin_Powell", "Tony_Blair"]:
        add_photo(enrol(name, photo(name, 0)), photo(name, 1))

    api.get("/records", {"limit": 1})  # the key's first use writes its last_used_at; later ones do not
    # The API key, the count, the page of people and all their photos at once, and its audit event.
    with django_assert_num_queries(5):
        response = api.get("/records", {"limit": 1000})

    first_photos = {p.pk: p.images.order_by("created_at").first().vector_id for p in Person.objects.all()}
    assert [r["embedding_index"] for r in response.json()["records"]] == [
        first_photos[uuid.UUID(r["id"])] for r in response.json()["records"]
    ]


def test_get_a_record_lists_its_photos_with_download_links(api, bush, photo):
    image = bush.images.get()

    body = api.get(f"/records/{bush.pk}").json()

    assert body["id"] == str(bush.pk)
    assert body["metadata"] == {"role": "president"}
    assert body["images"] == [
        {
            "id": str(image.pk),
            "url": f"http://testserver/records/{bush.pk}/images/{image.pk}",
            "face_box": image.face_box,
            "width": 250,
            "height": 250,
            "faces_detected": 1,
            "created_at": body["images"][0]["created_at"],
        }
    ]
    download = api.get(body["images"][0]["url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "image/jpeg"
    assert b"".join(download.streaming_content) == Path(image.image.path).read_bytes()


@pytest.mark.parametrize("body_format", ["json", "multipart"])
def test_patch_changes_name_and_metadata(api, bush, body_format):
    metadata = {"role": "governor"} if body_format == "json" else '{"role": "governor"}'
    response = api.patch(f"/records/{bush.pk}", {"name": "G. W. Bush", "metadata": metadata}, format=body_format)

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "G. W. Bush"
    assert response.json()["metadata"] == {"role": "governor"}
    bush.refresh_from_db()
    assert (bush.name, bush.metadata) == ("G. W. Bush", {"role": "governor"})


def test_patch_of_one_field_keeps_the_other(api, bush):
    response = api.patch(f"/records/{bush.pk}", {"name": "GWB"}, format="json")

    assert response.status_code == 200
    bush.refresh_from_db()
    assert (bush.name, bush.metadata) == ("GWB", {"role": "president"})


def test_delete_erases_the_person_their_files_and_vectors(
    api, bush, enrol, photo, django_capture_on_commit_callbacks
):
    powell = enrol("Colin Powell", photo("Colin_Powell", 0))
    api.post(f"/records/{bush.pk}/images", {"image": upload(photo("George_W_Bush", 1))}, format="multipart")
    files = [stored_file(image) for image in bush.images.all()]
    vectors = set(bush.images.values_list("face_vector__vector_id", flat=True))
    assert len(files) == 2 and all(f.exists() for f in files)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/records/{bush.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Successfully deleted record for 'George W Bush'",
        "deleted_id": str(bush.pk),
    }
    assert not Person.objects.filter(pk=bush.pk).exists()
    assert not FaceImage.objects.filter(person_id=bush.pk).exists()
    assert not any(f.exists() for f in files)
    assert index_vector_ids() == {powell.embedding_index}
    assert not vectors & index_vector_ids()
    assert api.get(f"/records/{bush.pk}").status_code == 404


def test_add_a_photo_then_matching_uses_the_nearest_photo(api, bush, photo):
    response = api.post(f"/records/{bush.pk}/images", {"image": upload(photo("George_W_Bush", 1))}, format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    image = FaceImage.objects.get(pk=body["image"]["id"])
    assert body["success"] is True
    assert body["message"] == "Added a photo of 'George W Bush'"
    assert body["record"]["id"] == str(bush.pk)
    assert body["record"]["embedding_index"] == bush.embedding_index  # still the first photo
    assert body["faces_detected"] == 1
    assert index_vector_ids() == {bush.embedding_index, image.vector_id}
    # A query identical to the second photo is at distance ~0 from it, not from the first.
    match = api.post("/records/match", {"image": upload(photo("George_W_Bush", 1))}, format="multipart").json()
    assert match["best_match"]["id"] == str(bush.pk)
    assert match["top_matches"][0]["distance"] < 0.001
    assert len(match["top_matches"]) == 1  # one person, however many photos


def test_delete_a_photo_erases_its_file_and_vector_and_keeps_the_record(
    api, bush, photo, django_capture_on_commit_callbacks
):
    added = api.post(f"/records/{bush.pk}/images", {"image": upload(photo("George_W_Bush", 1))}, format="multipart")
    image = FaceImage.objects.get(pk=added.json()["image"]["id"])
    path = stored_file(image)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/records/{bush.pk}/images/{image.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Deleted a photo of 'George W Bush'",
        "deleted_id": str(image.pk),
    }
    assert not path.exists()
    assert index_vector_ids() == {bush.embedding_index}
    assert Person.objects.filter(pk=bush.pk).exists()


def test_a_photo_of_another_record_is_not_found_through_this_one(api, bush, enrol, photo):
    powell = enrol("Colin Powell", photo("Colin_Powell", 0))
    powell_image = powell.images.get()

    for method in (api.get, api.delete):
        response = method(f"/records/{bush.pk}/images/{powell_image.pk}")
        assert response.status_code == 404
        assert str(powell_image.pk) in response.json()["detail"]
    assert FaceImage.objects.filter(pk=powell_image.pk).exists()


def test_a_record_without_photos_left_has_no_embedding_index(api, bush, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/records/{bush.pk}/images/{bush.images.get().pk}")

    body = api.get(f"/records/{bush.pk}").json()
    assert (body["embedding_index"], body["images"]) == (None, [])
    assert index_vector_ids() == set()


# --- Finding people in the list: ?name= and ?metadata.KEY=VALUE ------------------------------------


@pytest.fixture
def staff(db):
    """Four people with metadata, enrolled in this order (rows only: the list reads no photo)."""
    rows = [
        ("Ada Lovelace", {"department": "Engineering", "badge": 1042, "site": "London"}),
        ("Grace Hopper", {"department": "Engineering", "badge": "7", "remote": True}),
        ("Alan Turing", {"department": "Research", "badge": 1042, "a__b": "x"}),
        ("ada of accounting", {"department": "Accounts", "badge": None}),
    ]
    return [Person.objects.create(name=name, metadata=metadata) for name, metadata in rows]


def listed(api, query: str) -> dict:
    response = api.get(f"/records?{query}")
    assert response.status_code == 200, response.json()
    body = response.json()
    return {"total": body["total_count"], "names": [record["name"] for record in body["records"]]}


@pytest.mark.parametrize(
    "query, total, names",
    [
        ("name=ada", 2, ["Ada Lovelace", "ada of accounting"]),
        ("name=ADA&limit=1", 2, ["Ada Lovelace"]),
        ("name=ada&skip=1", 2, ["ada of accounting"]),
        ("metadata.department=Engineering", 2, ["Ada Lovelace", "Grace Hopper"]),
        ("metadata.department=engineering", 0, []),  # exact
        ("metadata.badge=1042", 2, ["Ada Lovelace", "Alan Turing"]),  # a stored number
        ("metadata.badge=7", 1, ["Grace Hopper"]),  # a stored string
        ("metadata.remote=true", 1, ["Grace Hopper"]),
        ("metadata.badge=null", 1, ["ada of accounting"]),
        ("metadata.a__b=x", 1, ["Alan Turing"]),  # a key with "__" is one key, not a path
        ("metadata.department=Engineering&metadata.badge=1042", 1, ["Ada Lovelace"]),
        ("name=ada&metadata.department=Accounts", 1, ["ada of accounting"]),
        ("metadata.site=London&name=grace", 0, []),
        ("metadata.nothing=1", 0, []),
        ("name=", 4, ["Ada Lovelace", "Grace Hopper", "Alan Turing", "ada of accounting"]),
        ("metadata.badge=NaN", 0, []),
        ("metadata.badge=1e400", 0, []),
        ("name=%27%3B--%20", 0, []),
    ],
)
def test_the_list_is_narrowed_by_name_and_metadata(api, staff, query, total, names):
    assert listed(api, query) == {"total": total, "names": names}


@pytest.mark.parametrize(
    "query, detail",
    [
        ("metadata.=x", "metadata: metadata.KEY needs a key of 1 to 255 characters of valid text, not ''."),
        ("name=" + "x" * 256, "name: Ensure this field has no more than 255 characters."),
        ("name=a%00b", "name: Null characters are not allowed."),
        ("metadata.team=a%00b", "team: Null characters are not allowed."),
        ("&".join(f"metadata.k{n}=v" for n in range(11)), "metadata: At most 10 metadata.KEY filters at once."),
    ],
)
def test_a_bad_filter_is_a_400(api, staff, query, detail):
    response = api.get(f"/records?{query}")
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
