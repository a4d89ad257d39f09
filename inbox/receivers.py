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
from recognition.service import FaceAnalysis
from records import erasure
from records.maintenance import KeptFiles, checking_files
from records.models import Collection
from records.signals import faces_left_unnamed

from . import keeping
from .models import CROPS_FOLDER, UnknownCluster, UnknownFace


@receiver(faces_left_unnamed, sender=FaceAnalysis)
def keep_unnamed_faces(sender, analysis, faces, collections, **kwargs):
    return keeping.keep(analysis, faces, collections)


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
