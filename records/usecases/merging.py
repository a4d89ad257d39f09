"""Merging two records of one person (enrolled twice: the admin's "Possible duplicates" page):
the photos of one, with their face vectors under every model key, move to the other, and the
emptied record is erased as a deleted person is."""

import uuid
from dataclasses import dataclass

from django.db import transaction

from audit import log as audit
from records import erasure, signals
from records.models import PendingErasure, Person

from .errors import MergeRefused



@dataclass(frozen=True)
class Merge:
    kept: Person
    removed_id: uuid.UUID
    photos_moved: int


def merge_people(kept_id, removed_id) -> Merge:
    """Move every photo of `removed_id` to `kept_id` and erase the emptied record, all or nothing.

    Records of two collections are refused: a collection is matched apart on purpose (two sites,
    a staff list beside a visitor list), and a key limited to one must never find a photo taken
    from the other. Move one record first (its page, or PATCH /records/{id}), then merge.
    """
    kept_id, removed_id = uuid.UUID(str(kept_id)), uuid.UUID(str(removed_id))
    if kept_id == removed_id:
        raise MergeRefused("A record cannot be merged into itself.")
    with transaction.atomic():
        # Both rows locked until the merge commits, always in the same (id) order so two merges of
        # the pair in opposite directions wait for each other instead of deadlocking. The race:
        # without the lock a photo added to the removed record (records.usecases.enrolment.add_photo locks its
        # person) after its photos were read would be erased with it, and a delete of the kept
        # record committing meanwhile would leave the moved photos with an owner that is gone.
        locked = Person.objects.select_for_update().filter(pk__in=[kept_id, removed_id]).order_by("pk")
        people = {person.pk: person for person in locked}
        if len(people) < 2:
            gone = kept_id if kept_id not in people else removed_id
            raise MergeRefused(f"Record '{gone}' no longer exists: it was deleted or merged meanwhile.")
        kept, removed = people[kept_id], people[removed_id]
        if kept.collection_id != removed.collection_id:
            raise MergeRefused(
                f"'{removed.name}' is in the collection '{removed.collection}' and '{kept.name}' in "
                f"'{kept.collection}': records of two collections are not merged. Move one first."
            )
        # The photos locked too: a re-embed of one (records/maintenance.py) swaps its vector under
        # the same lock and reads the owner from the locked row.
        photos = list(removed.images.select_related("face_vector").select_for_update(of=("self",)))
        model_keys = set()
        for photo in photos:
            # A vector's owner is fixed for its life (recognition.FaceVector): each photo's face is
            # stored again as the kept record's, under its own model key (an old model's vector
            # stays that model's), and the old vector's removal is logged, so every worker's index
            # drops the removed record and finds the kept one from the change log.
            model_keys.add(photo.face_vector.model_key)
            photo.person = kept
            photo.replace_vector(photo.face_vector.model_key, photo.face_vector.vector, kept.partition, also_saved=["person"])
        audit.record(
            audit.Action.UPDATE_PERSON,
            target=kept.pk,
            detail={"merged_from": str(removed.pk), "photos": [str(photo.pk) for photo in photos]},
        )
        # What other apps hold of the removed record that is true of the kept one moves first (the
        # inbox: the faces reviewers said they are not, their kept recognitions).
        signals.records_merged.send(Person, kept=kept, removed=removed)
        # Erased as any deleted person is (records/signals.py): the delete_person event, the admin
        # history scrubbed, probes kept of matches that named them and jobs naming them erased
        # (nothing would find those by the kept record's id).
        removed.delete()
        # Every snapshot written again without the old vectors, which named the removed record.
        erasure.schedule(*(PendingErasure(model_key=key) for key in sorted(model_keys)))
    return Merge(kept, removed_id, len(photos))
