"""People enrolled: changing who they are and where they are matched, erasing them."""

import uuid
from dataclasses import dataclass

from django.db import transaction

from records import signals
from records.models import Collection, Person

from .collections import locked


def change_record(person: Person, changes: dict, collection: Collection | None = None) -> Person:
    """Change a record's name and metadata and, with `collection`, move it there, all or nothing.

    A vector's partition is fixed for its life (recognition.FaceVector), so a move stores each
    photo's vector again in the new collection's partition and removes the old one: every index
    learns of both from the change log, and a search of the old collection stops finding them in
    the same commit as the record moves.
    """
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        for field, value in changes.items():
            setattr(person, field, value)
        fields = [*changes]
        if collection is not None and collection.pk != person.collection_id:
            collection = locked(collection)  # not deleted while the record moves into it
            for image in person.images.select_related("face_vector").select_for_update(of=("self",)):
                image.replace_vector(image.face_vector.model_key, image.face_vector.vector, collection.partition)
            person.collection = collection
            fields.append("collection")
        person.save(update_fields=[*fields, "updated_at"])
        signals.record_changed.send(Person, person=person, fields=fields, photo=None)
    return person


def create_person(name: str, metadata: dict, collection: Collection) -> Person:
    """A person without a photo yet (the admin's add form): recognised once a photo is added."""
    with transaction.atomic():
        return Person.objects.create(name=name, metadata=metadata, collection=locked(collection))


@dataclass(frozen=True)
class PersonDeleted:
    id: uuid.UUID
    name: str  # for the caller's own message; kept nowhere


def delete_person(person: Person) -> PersonDeleted:
    """Erase the person with their photos, files and vectors, and every trace that names them (the
    signals of records/signals.py and records/erasure.py, once the delete commits)."""
    deleted = PersonDeleted(person.pk, person.name)
    person.delete()
    return deleted


def delete_people(people) -> int:
    """Erase each person of a queryset exactly as `delete_person` does; the number erased."""
    return people.delete()[1].get(Person._meta.label, 0)
