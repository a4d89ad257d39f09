"""Where the inbox meets the rest: a match's unnamed faces kept, an unknown face's vector and crop
erased whatever deletes it (API, pages, admin, a cascade from its collection), a collection that
stops keeping them erasing them, retention, and check_integrity's look at the crops."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from audit import log as audit
from audit.retention import Expired, Purged, purging
from recognition.models import FaceVector
from recognition.service import FaceAnalysis
from records import erasure
from records.maintenance import KeptFiles, checking_files
from records.models import Collection, Person
from records.signals import faces_left_unnamed, faces_named, record_changed, records_merged

from . import keeping
from .models import CROPS_FOLDER, MATCHED_CROPS_FOLDER, KeptMatch, MatchedFace, NotThem, UnknownCluster, UnknownFace


@receiver(faces_left_unnamed, sender=FaceAnalysis)
def keep_unnamed_faces(sender, analysis, faces, collections, **kwargs):
    return keeping.keep(analysis, faces, collections)


@receiver(faces_named, sender=FaceAnalysis)
def keep_named_faces(sender, analysis, faces, result, collections, **kwargs):
    kept = keeping.keep_named(analysis, faces, result.faces_matched())
    return kept.pk if kept else None


@receiver(record_changed, sender=Person)
def follow_a_moved_person(sender, person, fields, **kwargs):
    """A person moved to another collection takes what reviewers said of them there: the faces they
    are not are stored again in its partition (a vector's partition is fixed for its life) and the
    old vectors removed, as their photos' are (records/usecases/people.change_record), so a match
    of their new collection still does not name them for those faces; their kept recognitions are
    then seen by the keys of that collection. Inside the move's transaction."""
    if "collection" not in fields:
        return
    for said in _said_not(person):
        _store_again(said, person)
    MatchedFace.objects.filter(person=person).update(collection_id=person.collection_id)


@receiver(records_merged, sender=Person)
def follow_a_merged_person(sender, kept, removed, **kwargs):
    """Two records of one person merged: what reviewers said of the removed record is said of the
    kept one. A face said not to be the removed record is not the kept one either (its vector
    stored again as theirs: a vector's owner is fixed for its life), a face that was the removed
    record's is the kept one's, and their kept recognitions name the kept record. A "not them"
    between the two is dropped: the merge says they are one. Inside the merge's transaction."""
    between = NotThem.objects.filter(person=kept, face_of=removed) | NotThem.objects.filter(person=removed, face_of=kept)
    between.delete()
    for said in _said_not(removed):
        _store_again(said, kept)
    NotThem.objects.filter(face_of=removed).update(face_of=kept)
    MatchedFace.objects.filter(person=removed).update(person=kept)


def _said_not(person: Person):
    """The faces said not to be `person`, locked, with their vectors."""
    return NotThem.objects.filter(person=person).select_related("face_vector").select_for_update(of=("self",))


def _store_again(said: NotThem, owner: Person) -> None:
    """The face's vector stored again as `owner`'s, in their collection's partition (a vector's
    owner and partition are fixed for its life), and the old one removed, its removal logged, so
    every index swaps them."""
    old = said.face_vector
    said.face_vector = FaceVector.objects.store(old.model_key, owner.pk, old.vector, owner.partition)
    said.person = owner
    said.save(update_fields=["face_vector", "person"])
    old.delete()


@receiver(post_delete, sender=MatchedFace)
def forget_matched_face(sender, instance: MatchedFace, **kwargs):
    # Its vector is in the row; the crop is erased once the delete commits, as an unknown face's.
    erasure.forget_face(None, instance.crop.name)


@receiver(post_delete, sender=NotThem)
def forget_not_them(sender, instance: NotThem, **kwargs):
    erasure.forget_face(instance.face_vector_id, "")


@receiver(post_delete, sender=UnknownFace)
def forget_unknown_face(sender, instance: UnknownFace, **kwargs):
    # As records' photos (records/signals.py): the vector's removal is logged in the deleting
    # transaction, the crop and the index snapshot are erased once it commits, retried until done.
    erasure.forget_face(instance.face_vector_id, instance.crop.name)


@receiver(post_save, sender=Collection)
def erase_when_no_longer_kept(sender, instance: Collection, raw=False, **kwargs):
    if raw or instance.keep_unknown_faces:
        return
    erase_clusters(UnknownCluster.objects.filter(collection=instance), reason="collection_stopped_keeping")


def erase_clusters(clusters, reason: str) -> int:
    """Erase these clusters with their faces (vectors and crops); audited when any face went."""
    faces = list(UnknownFace.objects.filter(cluster__in=clusters).values_list("pk", flat=True))
    clusters.delete()
    if faces:
        audit.record(audit.Action.ERASE_UNKNOWN, detail={"reason": reason, "faces": [str(pk) for pk in faces]})
    return len(faces)


def erase_faces(faces, reason: str) -> int:
    """Erase these faces (a queryset) and the clusters they leave empty; audited when any went."""
    erased = list(faces.values_list("pk", "cluster_id"))
    faces.delete()
    UnknownCluster.objects.filter(pk__in={cluster for _, cluster in erased}, faces__isnull=True).delete()
    if erased:
        audit.record(audit.Action.ERASE_UNKNOWN, detail={"reason": reason, "faces": [str(pk) for pk, _ in erased]})
    return len(erased)


@receiver(purging, sender=Purged)
def purge_unknown_faces(sender, now, **kwargs):
    expired = UnknownFace.objects.filter(seen_at__lt=now - timedelta(days=settings.UNKNOWN_FACE_RETENTION_DAYS))
    return Expired("unknown_faces", erase_faces(expired, reason="retention"))


@receiver(checking_files, sender=KeptFiles)
def crops_to_check(sender, **kwargs) -> KeptFiles:
    """check_integrity compares the crops stored with the unknown faces' rows."""
    return KeptFiles(
        label="unknown faces",
        folder=CROPS_FOLDER,
        rows={name: str(pk) for name, pk in UnknownFace.objects.values_list("crop", "pk")},
        erase_rows=erase_faces_without_crop,
    )


def erase_faces_without_crop(face_ids: list[str]) -> None:
    """An unknown face is kept to be seen and named by its crop (naming makes the crop a photo):
    without it, its vector would be biometric data kept for nothing, so --repair erases it."""
    with transaction.atomic():
        erase_faces(UnknownFace.objects.filter(pk__in=face_ids), reason="crop_missing")


@receiver(purging, sender=Purged)
def purge_kept_matches(sender, now, **kwargs):
    """The matches kept for feedback longer than MATCH_FEEDBACK_HOURS, with their faces' crops."""
    expired = KeptMatch.objects.filter(seen_at__lt=now - timedelta(hours=settings.MATCH_FEEDBACK_HOURS))
    faces = MatchedFace.objects.filter(match__in=expired).count()
    expired.delete()
    return Expired("matched_faces", faces)


@receiver(checking_files, sender=KeptFiles)
def matched_crops_to_check(sender, **kwargs) -> KeptFiles:
    """check_integrity compares the crops stored with the kept recognitions' rows; --repair erases
    a kept face whose crop is missing (it is kept to be seen and confirmed by it)."""
    return KeptFiles(
        label="recognitions kept for feedback",
        folder=MATCHED_CROPS_FOLDER,
        rows={name: str(pk) for name, pk in MatchedFace.objects.values_list("crop", "pk")},
        erase_rows=lambda face_ids: MatchedFace.objects.filter(pk__in=face_ids).delete(),
    )
