"""The re-grouping job: HDBSCAN over a collection's unknown faces of one model key, run by the job
worker (`manage.py db_worker`) after every UNKNOWN_REGROUP_EVERY faces kept, or by
`manage.py regroup_unknown_faces` (UNKNOWN_REGROUP_EVERY is 0, off, by default: bench/RESULTS.md,
Review inbox, measured it as pure as assignment on arrival but less complete). It finds the merges and splits that assignment on arrival cannot
(inbox/clustering.py); clusters an operator split or merged (`reviewed`) are left as they are."""

from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django_tasks import task

from audit import log as audit
from records.models import Collection

from . import clustering, index
from .calibration import cluster_distance, min_cluster_size
from .models import UnknownCluster, UnknownFace


@dataclass(frozen=True)
class Regrouped:
    faces: int  # faces looked at
    moved: int  # faces put in another cluster
    clusters: int  # clusters after it, of those it looked at


def maybe_regroup(collection: Collection, model_key: str) -> None:
    """Queue a re-grouping of the collection after every UNKNOWN_REGROUP_EVERY faces kept in it."""
    if not settings.UNKNOWN_REGROUP_EVERY:
        return
    kept = UnknownFace.objects.filter(collection=collection, cluster__model_key=model_key).count()
    if kept and kept % settings.UNKNOWN_REGROUP_EVERY == 0:
        transaction.on_commit(lambda: regroup_task.enqueue(collection.pk, model_key), robust=True)


@task()
def regroup_task(collection_id: int, model_key: str) -> dict | None:
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:  # deleted since: its faces went with it
        return None
    return regroup(collection, model_key).__dict__


def regroup(collection: Collection, model_key: str) -> Regrouped:
    faces = list(
        UnknownFace.objects.filter(collection=collection, cluster__model_key=model_key, cluster__reviewed=False)
        .select_related("face_vector").order_by("seen_at", "pk")
    )
    if not faces:
        return Regrouped(0, 0, 0)
    labels = clustering.regroup(np.stack([face.vector for face in faces]), min_cluster_size(model_key), cluster_distance(model_key))
    groups = _groups(faces, labels)
    moved = _apply(collection, model_key, faces, groups)
    audit.record(
        audit.Action.REVIEW_UNKNOWN, target=collection.name,
        detail={"regrouped": len(faces), "moved": moved, "clusters": len(groups), "model_key": model_key},
    )
    return Regrouped(len(faces), moved, len(groups))


def _groups(faces: list[UnknownFace], labels) -> list[list[UnknownFace]]:
    """HDBSCAN's clusters, and each face it left as noise alone, largest first."""
    found: dict[int, list[UnknownFace]] = {}
    for position, (face, label) in enumerate(zip(faces, labels)):
        found.setdefault(int(label) if label != clustering.NOISE else -1 - position, []).append(face)
    return sorted(found.values(), key=len, reverse=True)


def _apply(collection: Collection, model_key: str, faces: list[UnknownFace], groups) -> int:
    """Each group keeps the id of the cluster most of its faces were in (largest groups choose
    first), so a suggestion an operator is looking at keeps its address; the others get new ones."""
    moved = 0
    with transaction.atomic():
        # Locked: a face dismissed or named while the job ran is gone and skipped; one moved by an
        # operator meanwhile (its cluster now reviewed, or another) stays where it was put.
        current = {
            face.pk: face
            for face in UnknownFace.objects.select_for_update()
            .filter(pk__in=[face.pk for face in faces], cluster__reviewed=False).select_related("face_vector")
        }
        taken = set()
        for group in groups:
            members = [current[face.pk] for face in group if face.pk in current and current[face.pk].cluster_id == face.cluster_id]
            if not members:
                continue
            votes = Counter(face.cluster_id for face in members)
            keep = next((cluster for cluster, _ in votes.most_common() if cluster not in taken), None)
            if keep is None:
                keep = UnknownCluster.objects.create(collection=collection, model_key=model_key).pk
            taken.add(keep)
            for face in members:
                if face.cluster_id != keep:
                    move(face, keep, model_key)
                    moved += 1
        UnknownCluster.objects.filter(collection=collection, model_key=model_key, faces__isnull=True).delete()
    return moved


def move(face: UnknownFace, cluster_id, model_key: str) -> None:
    """Put a face in another cluster: its vector is stored again under the new owner and the old one
    removed (logged), so every worker's index answers the new cluster. Call with the face locked."""
    old = face.face_vector
    face.face_vector = index.store(model_key, cluster_id, old.vector, old.partition)
    face.cluster_id = cluster_id
    face.save(update_fields=["cluster", "face_vector"])
    old.delete()  # logs its removal
