"""Collections over the API, on the real model and real photos: a match within one never returns a
person of another, a key limited to some sees nothing of the rest (a record of another reads as
404), deleting one erases its people as deleting each would, and the original contract's client,
which never names a collection, gets the answers it always got."""

from pathlib import Path

import pytest
from django.conf import settings

from access.scopes import ADMIN, ENROL, MANAGE, MATCH, READ
from audit.models import AuditEvent
from recognition.models import FaceVector
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import Collection, Person
from tests.keys import key_client

from .samples import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites(enrol, photo):
    """Bush at site A, Powell at site B, Blair in `default` (enrolled the original way)."""
    return {
        "a": enrol("George W Bush", photo("George_W_Bush", 0), collection="site-a"),
        "b": enrol("Colin Powell", photo("Colin_Powell", 0), collection="site-b"),
        "default": enrol("Tony Blair", photo("Tony_Blair", 0)),
    }


def match(client, data, **fields):
    return client.post("/records/match", {"image": upload(data), **fields}, format="multipart")


def candidates(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {candidate["name"] for candidate in response.json()["top_matches"]}


def test_a_match_within_a_collection_never_returns_a_person_of_another(api, sites, photo):
    probe = photo("George_W_Bush", 1)

    assert candidates(match(api, probe, collection="site-b")) == {"Colin Powell"}
    assert match(api, probe, collection="site-b").json()["recognized"] is False
    within_a = match(api, probe, collection="site-a").json()
    assert within_a["recognized"] and within_a["best_match"]["name"] == "George W Bush"
    # ?collection= in the query string means the same as the form field.
    assert candidates(api.post("/records/match?collection=default", {"image": upload(probe)}, format="multipart")) == {
        "Tony Blair"
    }


def test_the_original_client_matches_and_lists_everyone_as_before(api, sites, photo):
    everyone = {"George W Bush", "Colin Powell", "Tony Blair"}
    answer = match(api, photo("George_W_Bush", 1))

    assert candidates(answer) == everyone
    assert answer.json()["best_match"]["name"] == "George W Bush"
    page = api.get("/records?skip=0&limit=10").json()
    assert page["total_count"] == 3 and {record["name"] for record in page["records"]} == everyone
    assert set(page["records"][0]) == {"id", "name", "metadata", "created_at", "embedding_index"}


def test_enrol_goes_to_default_or_to_the_collection_named(api, photo):
    Collection.objects.create(name="site-a")

    plain = api.post("/records", {"name": "Blair", "image": upload(photo("Tony_Blair", 0))}, format="multipart")
    named = api.post(
        "/records", {"name": "Bush", "image": upload(photo("George_W_Bush", 0)), "collection": "site-a"},
        format="multipart",
    )

    assert plain.status_code == named.status_code == 201
    assert set(plain.json()["record"]) == {"id", "name", "metadata", "created_at", "embedding_index"}
    assert Person.objects.get(name="Blair").collection.name == "default"
    assert Person.objects.get(name="Bush").collection.name == "site-a"
    assert api.get(f"/records/{named.json()['record']['id']}").json()["collection"] == "site-a"
    bush_vector = FaceVector.objects.get(owner_id=named.json()["record"]["id"])
    assert bush_vector.partition == Collection.objects.get(name="site-a").partition


@pytest.mark.parametrize("name, status", [("nowhere", 404), ("not a slug", 400), ("bad\x00name", 400)])
def test_enrol_into_a_collection_that_does_not_exist_writes_nothing(api, photo, unchanged, name, status):
    with unchanged():
        response = api.post(
            "/records", {"name": "X", "image": upload(photo("Tony_Blair", 0)), "collection": name},
            format="multipart",
        )
    assert response.status_code == status, response.content


# An empty ?collection= is no name, not "every collection": 400, as the schema's pattern says.
@pytest.mark.parametrize("query, status", [("collection=nowhere", 404), ("collection=%00", 400), ("collection=", 400)])
def test_list_and_match_of_an_unknown_collection(api, sites, photo, query, status):
    assert api.get(f"/records?{query}").status_code == status
    assert api.post(f"/records/match?{query}", {"image": upload(photo("Tony_Blair", 1))}, format="multipart").status_code == status


def test_list_keeps_to_the_collection_asked_for(api, sites):
    page = api.get("/records?collection=site-a&skip=0&limit=10").json()
    assert page["total_count"] == 1 and page["records"][0]["name"] == "George W Bush"


def test_collections_are_listed_created_and_deleted(api, sites, django_capture_on_commit_callbacks):
    listed = {c["name"]: c["records"] for c in api.get("/collections").json()}
    assert listed == {"default": 1, "site-a": 1, "site-b": 1}

    created = api.post("/collections", {"name": "site-c"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "site-c" and created.json()["records"] == 0
    assert api.post("/collections", {"name": "site-c"}, format="json").status_code == 400
    assert api.post("/collections", {"name": "no spaces"}, format="json").status_code == 400

    refused = api.delete("/collections/default")
    assert refused.status_code == 409 and "cannot be deleted" in refused.json()["detail"]
    assert api.delete("/collections/nowhere").status_code == 404


def test_deleting_a_collection_erases_its_people_as_deleting_each_would(api, sites, photo, django_capture_on_commit_callbacks):
    bush = sites["a"]
    files = [Path(settings.MEDIA_ROOT) / image.image.name for image in bush.images.all()]
    vector_ids = set(bush.images.values_list("face_vector__vector_id", flat=True))
    assert all(path.exists() for path in files)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("/collections/site-a")

    assert response.status_code == 200
    assert response.json() == {
        "success": True, "message": "Deleted collection 'site-a' and its 1 records", "deleted": "site-a",
        "records_deleted": 1,
    }
    assert not Person.objects.filter(pk=bush.pk).exists() and not Collection.objects.filter(name="site-a").exists()
    assert not any(path.exists() for path in files)
    assert not FaceVector.objects.filter(owner_id=bush.pk).exists()
    gallery = get_vector_index(get_service().model_key)
    gallery.sync()
    assert not vector_ids & gallery.index.vector_ids
    assert AuditEvent.objects.filter(action="delete_person", target=str(bush.pk)).exists()
    assert candidates(match(api, photo("George_W_Bush", 1))) == {"Colin Powell", "Tony Blair"}


@pytest.fixture
def site_a_key(sites):
    return key_client("site-a", scopes=[MATCH, READ, ENROL, ADMIN], collections=["site-a"])


def test_a_key_limited_to_a_collection_sees_nothing_of_another(site_a_key, sites, photo, unchanged):
    powell, bush = sites["b"], sites["a"]

    assert candidates(match(site_a_key, photo("Colin_Powell", 1))) == {"George W Bush"}
    assert site_a_key.get(f"/records/{bush.pk}").status_code == 200
    with unchanged():
        assert site_a_key.get(f"/records/{powell.pk}").status_code == 404
        assert site_a_key.get(f"/records/{powell.pk}/export").status_code == 404
        assert match(site_a_key, photo("Colin_Powell", 1), collection="site-b").status_code == 404
        assert site_a_key.get("/records?collection=site-b").status_code == 404
        enrol_b = site_a_key.post(
            "/records", {"name": "X", "image": upload(photo("Colin_Powell", 1)), "collection": "site-b"},
            format="multipart",
        )
        assert enrol_b.status_code == 404
        # Without `collection` an enrolment goes to `default`, which this key may not see either.
        enrol_default = site_a_key.post(
            "/records", {"name": "X", "image": upload(photo("Colin_Powell", 1))}, format="multipart"
        )
        assert enrol_default.status_code == 404
        verify_b = site_a_key.post(
            "/verify", {"image": upload(photo("Colin_Powell", 1)), "record_id": str(powell.pk)}, format="multipart"
        )
        assert verify_b.status_code == 404
        assert site_a_key.delete("/collections/site-b").status_code == 404
        assert site_a_key.post("/collections", {"name": "site-z"}, format="json").status_code == 403
    # Powell's face again, enrolled at site A: the possible duplicate at site B is not named to it.
    again = site_a_key.post(
        "/records", {"name": "Again", "image": upload(photo("Colin_Powell", 0)), "collection": "site-a"},
        format="multipart",
    )
    assert again.status_code == 201 and again.json().get("possible_duplicates", []) == []
    Person.objects.filter(name="Again").delete()
    page = site_a_key.get("/records").json()
    assert [record["name"] for record in page["records"]] == ["George W Bush"] and page["total_count"] == 1
    assert [c["name"] for c in site_a_key.get("/collections").json()] == ["site-a"]


def test_a_record_moved_to_another_collection_is_matched_there_only(api, sites, photo, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent

    bush = sites["a"]
    api.post(f"/records/{bush.pk}/images", {"image": upload(photo("George_W_Bush", 2))}, format="multipart")
    old_vectors = set(bush.images.values_list("face_vector__vector_id", flat=True))

    moved = api.patch(f"/records/{bush.pk}", {"collection": "site-b", "name": "G. W. Bush"}, format="json")

    assert moved.status_code == 200, moved.content
    assert moved.json()["name"] == "G. W. Bush" and len(moved.json()["images"]) == 2
    probe = photo("George_W_Bush", 1)
    assert match(api, probe, collection="site-b").json()["best_match"]["name"] == "G. W. Bush"
    assert candidates(match(api, probe, collection="site-a")) == set()
    assert {r["name"] for r in api.get("/records?collection=site-b").json()["records"]} == {"Colin Powell", "G. W. Bush"}
    # New vectors in site B's partition; the old ones are logged as removed, not left behind.
    bush.refresh_from_db()
    assert bush.collection.name == "site-b"
    assert not old_vectors & set(bush.images.values_list("face_vector__vector_id", flat=True))
    assert set(bush.images.values_list("face_vector__partition", flat=True)) == {bush.collection.partition}
    assert AuditEvent.objects.filter(action="update_person", target=str(bush.pk)).get().detail == {
        "fields": ["name", "collection_id"]
    }


def test_a_move_to_an_unknown_or_hidden_collection_writes_nothing(api, sites, unchanged):
    bush = sites["a"]
    site_a_key = key_client("site-a-manager", scopes=[MANAGE], collections=["site-a"])
    with unchanged():
        assert api.patch(f"/records/{bush.pk}", {"collection": "nowhere", "name": "X"}, format="json").status_code == 404
        assert site_a_key.patch(f"/records/{bush.pk}", {"collection": "site-b"}, format="json").status_code == 404
        assert api.patch(f"/records/{bush.pk}", {"collection": "Not a slug!"}, format="json").status_code == 400


def test_a_collection_made_again_under_a_deleted_ones_name_is_not_the_keys(api, sites, photo):
    """A key limited to site-a keeps to that collection: deleting it and making a new one under the
    same name (someone else's people, perhaps) gives the key nothing."""
    site_a_key = key_client("site-a-door", scopes=[MATCH, READ], collections=["site-a"])
    assert api.delete("/collections/site-a").status_code == 200
    assert api.post("/collections", {"name": "site-a"}, format="json").status_code == 201
    enrolled = api.post(
        "/records", {"name": "Tony Blair", "collection": "site-a", "image": upload(photo("Tony_Blair", 0))},
        format="multipart",
    )
    assert enrolled.status_code == 201

    assert site_a_key.get("/records").json()["total_count"] == 0
    assert site_a_key.get("/records", {"collection": "site-a"}).status_code == 404
    assert site_a_key.get("/collections").json() == []


def test_the_migration_binds_each_keys_names_to_ids_and_never_widens_a_key():
    from importlib import import_module

    from access.models import ScopedAPIKey
    from tests.keys import RegistryBeforeTheMove

    migration = import_module("records.migrations.0013_key_collections_by_id")
    site_a = Collection.objects.create(name="site-a")
    limited = ScopedAPIKey.objects.create_key(name="limited", scopes=[READ])[0]
    orphaned = ScopedAPIKey.objects.create_key(name="orphaned", scopes=[READ])[0]
    everywhere = ScopedAPIKey.objects.create_key(name="everywhere", scopes=[READ])[0]
    ScopedAPIKey.objects.filter(pk=limited.pk).update(collections=["site-a", "gone"])
    ScopedAPIKey.objects.filter(pk=orphaned.pk).update(collections=["gone"])

    migration.names_to_ids(RegistryBeforeTheMove(), None)

    for key in (limited, orphaned, everywhere):
        key.refresh_from_db()
    assert limited.collections == [site_a.pk]
    assert orphaned.collections == [migration.NONE] and not Collection.objects.visible_to(orphaned).exists()
    assert everywhere.collections == []
