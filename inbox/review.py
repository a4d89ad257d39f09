"""What a reviewer does with the inbox: list the clusters, see a face, name a cluster (an
enrolment), add it to a person, split, merge, dismiss, erase a face. Each returns a frozen
dataclass or raises a domain error (ReviewRefused); all of it is audited. No HTTP here."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min

from audit import log as audit
from recognition.errors import FaceError
from records.models import Collection, Person
from records.usecases import enrolment as enrolling
from records.usecases import matching
from records.usecases.errors import NotFound, PossibleDuplicate
from records.usecases.photos import open_audited

from . import signals
from .models import UnknownCluster, UnknownFace
from .receivers import erase_clusters
from .regrouping import move

# A named cluster gives its new person at most this many photos (the best faces first).
PHOTOS_PER_NAMED_CLUSTER = 5


class ReviewRefused(FaceError):
    """A review action that cannot be done as asked (400): nothing was changed."""


@dataclass(frozen=True)
class FaceSeen:
    id: str
    seen_at: datetime
    quality: dict | None


@dataclass(frozen=True)
class ClusterView:
    id: str
    collection: str
    size: int
    first_seen: datetime
    last_seen: datetime
    faces: list[FaceSeen]


def clusters(collections, min_faces: int | None = None) -> list[ClusterView]:
    """The clusters of these collections (a queryset) under the model in use with at least
    `min_faces` faces (UNKNOWN_CLUSTER_MIN_FACES: the suggested people), largest first. Audited as
    a read."""
    min_faces = settings.UNKNOWN_CLUSTER_MIN_FACES if min_faces is None else min_faces
    model_key = matching.policy().model_key
    found = _views(UnknownCluster.objects.filter(collection__in=collections, model_key=model_key), min_faces)
    audit.record_read(audit.Action.READ_UNKNOWN, count=len(found), detail={"clusters": len(found)})
    return found


def cluster_view(cluster: UnknownCluster) -> ClusterView:
    [view] = _views(UnknownCluster.objects.filter(pk=cluster.pk))
    return view


def _views(clusters, min_faces: int = 1) -> list[ClusterView]:
    found = list(
        clusters.annotate(size=Count("faces"), first_seen=Min("faces__seen_at"), last_seen=Max("faces__seen_at"))
        .filter(size__gte=max(1, min_faces)).select_related("collection").order_by("-size", "-last_seen", "id")
    )
    faces: dict = {}
    for face in UnknownFace.objects.filter(cluster__in=found).only("id", "cluster_id", "seen_at", "quality"):
        faces.setdefault(face.cluster_id, []).append(FaceSeen(str(face.pk), face.seen_at, face.quality))
    views = [
        ClusterView(str(c.pk), c.collection.name, c.size, c.first_seen, c.last_seen, faces.get(c.pk, []))
        for c in found
    ]
    return views


def open_crop(face: UnknownFace):
    """The face's crop, open for reading, its read audited (NotFound when its file is missing)."""
    return open_audited(face.crop, "face", audit.Action.READ_UNKNOWN, face.pk, {"crop": True})


def dismiss(cluster: UnknownCluster) -> int:
    """Erase the cluster and its faces (vectors and crops). The number of faces erased."""
    with transaction.atomic():
        erased = erase_clusters(UnknownCluster.objects.filter(pk=cluster.pk), reason="dismissed")
        if erased:
            signals.cluster_reviewed.send(
                UnknownCluster, cluster_id=cluster.pk, collection=cluster.collection, action="dismissed", person=None, faces=erased
            )
        return erased


def erase_face(face: UnknownFace) -> None:
    with transaction.atomic():
        cluster = face.cluster_id
        UnknownFace.objects.filter(pk=face.pk).delete()
        UnknownCluster.objects.filter(pk=cluster, faces__isnull=True).delete()
        audit.record(audit.Action.ERASE_UNKNOWN, target=face.pk, detail={"reason": "erased", "faces": [str(face.pk)]})


def split(cluster: UnknownCluster, face_ids: list) -> UnknownCluster:
    """A new cluster of these faces of `cluster`. Both are then `reviewed`: the re-grouping job
    leaves them as the operator made them."""
    wanted = {str(pk) for pk in face_ids}
    with transaction.atomic():
        # Locked: the cluster cannot be dismissed or re-grouped while its faces move.
        cluster = _locked(cluster)
        faces = list(cluster.faces.select_for_update().select_related("face_vector"))
        chosen = [face for face in faces if str(face.pk) in wanted]
        if len(chosen) != len(wanted):
            raise ReviewRefused(f"face_ids: {len(wanted) - len(chosen)} of them are not faces of cluster {cluster.pk}.")
        if len(chosen) == len(faces):
            raise ReviewRefused("face_ids: a split leaves at least one face in the cluster.")
        new = UnknownCluster.objects.create(collection_id=cluster.collection_id, model_key=cluster.model_key, reviewed=True)
        for face in chosen:
            move(face, new.pk, cluster.model_key)
        UnknownCluster.objects.filter(pk=cluster.pk).update(reviewed=True)
        audit.record(
            audit.Action.REVIEW_UNKNOWN, target=cluster.pk,
            detail={"split": [str(face.pk) for face in chosen], "into": str(new.pk)},
        )
    return new


def merge(clusters_to_merge: list[UnknownCluster]) -> UnknownCluster:
    """One cluster of all their faces: the largest keeps its id. All of one collection and model."""
    if len({c.pk for c in clusters_to_merge}) < 2:
        raise ReviewRefused("cluster_ids: name at least two clusters to merge.")
    if len({(c.collection_id, c.model_key) for c in clusters_to_merge}) > 1:
        raise ReviewRefused("cluster_ids: clusters of different collections or models cannot be merged.")
    with transaction.atomic():
        locked = [_locked(c) for c in sorted(clusters_to_merge, key=lambda c: str(c.pk))]
        faces = {c.pk: list(c.faces.select_for_update().select_related("face_vector")) for c in locked}
        into = max(locked, key=lambda c: (len(faces[c.pk]), str(c.pk)))
        for cluster in locked:
            if cluster.pk != into.pk:
                for face in faces[cluster.pk]:
                    move(face, into.pk, into.model_key)
                cluster.delete()
        UnknownCluster.objects.filter(pk=into.pk).update(reviewed=True)
        audit.record(
            audit.Action.REVIEW_UNKNOWN, target=into.pk, detail={"merged": sorted(str(c.pk) for c in locked)},
        )
    return into


def _locked(cluster: UnknownCluster) -> UnknownCluster:
    found = UnknownCluster.objects.select_for_update().filter(pk=cluster.pk).first()
    if found is None:
        raise NotFound(f"No cluster with id '{cluster.pk}': it was dismissed or named meanwhile.")
    return found


@dataclass(frozen=True)
class Named:
    """What naming a cluster (or adding it to someone) did."""

    person: Person
    enrolment: enrolling.Enrolled | None  # the enrolment that made the person (naming only)
    photos: list[str]  # the photos made of the cluster's faces
    refused: list[dict] = field(default_factory=list)  # faces not made photos: {face, reason}
    erased: int = 0  # faces erased from the inbox


def _best_first(cluster: UnknownCluster) -> list[UnknownFace]:
    """Its faces, the largest and sharpest first (eye distance, then sharpness)."""

    def rank(face: UnknownFace):
        quality = face.quality or {}
        return (-(quality.get("eye_distance") or 0), -(quality.get("sharpness") or 0))

    return sorted(cluster.faces.all(), key=rank)


def _read(face: UnknownFace) -> bytes:
    with face.crop.open("rb") as handle:
        return handle.read()


def name(cluster: UnknownCluster, person_name: str, metadata: dict | None = None, on_duplicate: str = enrolling.ALLOW_DUPLICATES) -> Named:
    """Enrol a new person from the cluster: through the enrolment (its quality gate and duplicate
    check), from the best face that passes, then up to PHOTOS_PER_NAMED_CLUSTER - 1 more faces as
    their photos (each through adding a photo: the gate and the 1:1 check that it is them). The
    cluster is then erased. Raises the enrolment's refusal when no face passes."""
    faces = _best_first(cluster)
    refused, enrolment, last_refusal = [], None, None
    collection = Collection.objects.get(pk=cluster.collection_id)
    for face in faces:
        try:
            enrolment = enrolling.enrol(person_name, _read(face), metadata=metadata, on_duplicate=on_duplicate, collection=collection)
        except PossibleDuplicate:
            raise
        except FaceError as refusal:
            refused.append({"face": str(face.pk), "reason": refusal.neutral})
            last_refusal = refusal
            continue
        used = face
        break
    if enrolment is None:
        raise last_refusal or ReviewRefused("The cluster has no face.")
    rest = [face for face in faces if face.pk != used.pk]
    return _finish(cluster, enrolment.person, enrolment, rest, [str(enrolment.image.pk)], [str(used.pk)], refused, "named")


def assign(cluster: UnknownCluster, person: Person) -> Named:
    """Make the cluster's faces photos of `person` (each through adding a photo: the quality gate
    and the 1:1 check that the face is theirs). The faces used leave the inbox; the cluster is
    erased once none is left."""
    return _finish(cluster, person, None, _best_first(cluster), [], [], [], "assigned")


def _finish(cluster, person, enrolment, faces, photos: list, used: list, refused: list, how: str) -> Named:
    """Add `faces` as photos of `person` (up to PHOTOS_PER_NAMED_CLUSTER when naming), then erase
    from the inbox the faces used (`used` so far, and those added), or, naming, the whole cluster."""
    for face in faces:
        if how == "named" and len(photos) >= PHOTOS_PER_NAMED_CLUSTER:
            break
        try:
            added = enrolling.add_photo(person, _read(face))
        except FaceError as refusal:
            refused.append({"face": str(face.pk), "reason": refusal.neutral})
            continue
        photos.append(str(added.image.pk))
        used.append(str(face.pk))
    with transaction.atomic():
        if how == "named":  # the cluster is emptied: the faces not used are erased too
            erased = erase_clusters(UnknownCluster.objects.filter(pk=cluster.pk), reason="named")
        else:
            erased = len(used)
            UnknownFace.objects.filter(pk__in=used).delete()
            UnknownCluster.objects.filter(pk=cluster.pk, faces__isnull=True).delete()
        # Names the person and the photos made, with where they came from: the person's export
        # (their audit events) says so.
        audit.record(
            audit.Action.REVIEW_UNKNOWN, target=person.pk, status=201,
            detail={how: str(cluster.pk), "photos": photos, "from_unknown_faces": used, "refused": refused},
        )
        signals.cluster_reviewed.send(
            UnknownCluster, cluster_id=cluster.pk, collection=cluster.collection,
            action="named" if how == "named" else "added", person=person, faces=erased,
        )
    return Named(person, enrolment, photos, refused, erased)
