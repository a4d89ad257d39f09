"""Collections of people matched apart (a site, a customer)."""

from django.db import transaction

from audit import log as audit
from records.models import Collection

from .errors import DefaultCollectionKept, NotFound


def locked(collection: Collection) -> Collection:
    """The collection, locked until the transaction ends: a delete of it that commits while a
    person is enrolled into it would otherwise leave that person behind (and the collection's
    delete failing on them). One deleted while the photo was analysed is answered as unknown."""
    try:
        return Collection.objects.select_for_update().get(pk=collection.pk)
    except Collection.DoesNotExist:
        raise NotFound(f"No collection named '{collection.name}': it was deleted while the photo was analysed.")


def create_collection(name: str, keep_unknown_faces: bool = False) -> Collection:
    """A new, empty collection (its name checked by the caller's form), audited."""
    collection = Collection.objects.create(name=name, keep_unknown_faces=keep_unknown_faces)
    audit.record(
        audit.Action.CREATE_COLLECTION, target=collection.name, status=201,
        detail={"keep_unknown_faces": keep_unknown_faces},
    )
    return collection


def change_collection(collection: Collection, keep_unknown_faces: bool) -> Collection:
    """Turn the keeping of unknown faces on or off; off erases those kept (the inbox's receiver of
    the save, in this transaction). Audited."""
    with transaction.atomic():
        # Locked: a match keeping a face reads the setting under this lock (inbox/keeping.py), so
        # no face is kept after the commit that turned it off.
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        if collection.keep_unknown_faces != keep_unknown_faces:
            collection.keep_unknown_faces = keep_unknown_faces
            collection.save(update_fields=["keep_unknown_faces"])
            audit.record(
                audit.Action.UPDATE_COLLECTION, target=collection.name, detail={"keep_unknown_faces": keep_unknown_faces}
            )
    return collection


def delete_collection(collection: Collection) -> int:
    """Erase every person of the collection exactly as deleting each would (the same signals:
    vectors, files, kept probes, admin history, audit), then the collection. The number erased."""
    if collection.is_default:
        raise DefaultCollectionKept("The 'default' collection cannot be deleted; delete its records one by one.")
    with transaction.atomic():
        # Locked against enrolments into it (see `locked`).
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        people = collection.people.count()
        collection.people.all().delete()
        collection.delete()
        audit.record(audit.Action.DELETE_COLLECTION, target=collection.name, detail={"people": people})
    return people
