"""Keeping the faces a match left unnamed, where the collection asks for it (keep_unknown_faces),
and putting each into its cluster on arrival; and the faces a match named, for
MATCH_FEEDBACK_HOURS, for a reviewer to confirm or correct (inbox/feedback.py)."""

import io
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from audit import log as audit
from recognition.backends.base import DetectedFace
from recognition.service import FaceAnalysis
from records.models import Collection, Person

from . import index, signals
from .calibration import cluster_distance
from .models import KeptMatch, MatchedFace, UnknownCluster, UnknownFace

# The crop is the face's box widened by this share of its longer side on each side: enough for the
# detector to find the face again when the cluster is named, and for the quality gate to measure it
# in the photo's own pixels.
CROP_MARGIN = 0.5
CROP_JPEG_QUALITY = 95


def collection_kept_in(collections) -> Collection | None:
    """The collection a match's unnamed faces belong to: the one it searched, or `default` (where
    an enrolment without a collection goes) when it searched everyone; none when it searched
    several."""
    if collections is None:
        return Collection.default()
    collections = list(collections)
    return collections[0] if len(collections) == 1 else None


@dataclass(frozen=True)
class FaceToKeep:
    """What is kept of a face: its crop, where it was, how sure and how good, and its vector."""

    crop: bytes
    face_box: list[int]
    detection_score: float
    quality: dict | None
    embedding: np.ndarray

    @classmethod
    def of(cls, analysis: FaceAnalysis, face: DetectedFace) -> "FaceToKeep":
        quality = face.quality.as_dict() if face.quality else None
        return cls(crop(analysis.image.rgb, face.box), list(face.box), face.score, quality, face.embedding)


def keep(analysis: FaceAnalysis, faces: list[DetectedFace], collections) -> list:
    """Keep each face (crop, vector, quality, when, who asked) in the collection's inbox when it
    keeps unknown faces; the id of each kept face, None for each not kept. Audited."""
    collection = collection_kept_in(collections)
    if collection is None or not collection.keep_unknown_faces:
        return [None] * len(faces)
    return keep_in(collection, analysis.model_key, [FaceToKeep.of(analysis, face) for face in faces])


def keep_in(collection: Collection, model_key: str, faces: list[FaceToKeep], how: str = "unnamed") -> list:
    """Keep these faces in the collection's inbox, each in its cluster, when it keeps unknown
    faces (`how`: why, for the audit: a match left it unnamed, a reviewer said the name was
    wrong, or a stream saw an appearance of nobody enrolled); the id of each kept face, None for
    each not kept. Audited."""
    distance = cluster_distance(model_key)
    # Found before the transaction (a search syncs the index, which reads the database): a face
    # arriving at the same moment in another worker may start a cluster of its own for the same
    # person; the re-grouping job merges them.
    nearest = [index.nearest_cluster(model_key, face.embedding, collection.partition) for face in faces]
    kept = []
    with transaction.atomic():
        # Locked and read again: a collection that stops keeping unknown faces erases them in the
        # transaction that turns it off (inbox/receivers.py); a face kept after that commit would
        # outlive the setting, so it is not kept once the lock shows the setting off.
        collection = Collection.objects.select_for_update().filter(pk=collection.pk).first()
        if collection is None or not collection.keep_unknown_faces:
            return [None] * len(faces)
        actor = audit.current_actor()
        for face, found in zip(faces, nearest):
            cluster = _cluster_for(found, distance, collection, model_key)
            unknown = UnknownFace(
                cluster=cluster, collection=collection, face_box=face.face_box, detection_score=face.detection_score,
                quality=face.quality, seen_by=actor,
                face_vector=index.store(model_key, cluster.pk, face.embedding, collection.partition),
            )
            unknown.crop = ContentFile(face.crop, name="face.jpg")
            unknown.save()
            kept.append(unknown.pk)
            joined = cluster.pk == (found or (None,))[0]
            detail = {"collection": collection.name, "cluster": str(cluster.pk), "joined": joined}
            if how != "unnamed":
                detail["how"] = how
            audit.record(audit.Action.KEEP_UNKNOWN, target=unknown.pk, status=201, detail=detail)
            signals.face_kept.send(UnknownFace, face=unknown, joined=joined, how=how)
    from .regrouping import maybe_regroup

    maybe_regroup(collection, model_key)
    return kept


def keep_named(analysis: FaceAnalysis, faces: list[DetectedFace], answers) -> KeptMatch | None:
    """Keep the faces a match named (`answers`: the match's faces_matched(), in the order of
    `faces`) as the inbox keeps a face, with whom each was named as, for MATCH_FEEDBACK_HOURS; the
    kept match, or None when nothing is kept (0 hours, or everyone named erased meanwhile). Its id
    is in the match's audit event."""
    if settings.MATCH_FEEDBACK_HOURS <= 0:
        return None
    named = {position: answer.best_match for position, answer in enumerate(answers) if answer.best_match}
    ids = [candidate.id for candidate in named.values()]
    collections = set(Person.objects.filter(pk__in=ids).values_list("collection", flat=True))
    kept = {position: FaceToKeep.of(analysis, faces[position]) for position, candidate in named.items()}
    with transaction.atomic():
        # Held against deletion before the rows pointing at them are inserted (the race: Person.delete),
        # the collections first, as deleting a collection locks it before its people.
        Collection.objects.filter(pk__in=collections).held_against_delete()
        held = Person.objects.filter(pk__in=ids, collection__in=collections).held_against_delete()
        people = {str(person.pk): person for person in held}
        if not people:
            return None
        # A person not held was erased (or moved) since the search: nothing may be kept as named them.
        match = KeptMatch.objects.create(model_key=analysis.model_key, seen_by=audit.current_actor())
        for position, candidate in named.items():
            person = people.get(candidate.id)
            if person is None:
                continue
            face = kept[position]
            matched = MatchedFace(
                match=match, position=position, person=person, collection_id=person.collection_id,
                face_box=face.face_box, detection_score=face.detection_score, quality=face.quality,
                distance=candidate.distance, embedding=np.asarray(face.embedding, dtype=np.float32).tobytes(),
            )
            matched.crop = ContentFile(face.crop, name="face.jpg")
            matched.save()
    return match


def _cluster_for(found, distance: float, collection: Collection, model_key: str) -> UnknownCluster:
    """The nearest face's cluster when within the distance (locked: a dismissal deleting it commits
    before or after this face joins, never in between), else a new one."""
    if found is not None and found[1] <= distance:
        cluster = UnknownCluster.objects.select_for_update().filter(pk=found[0], collection=collection).first()
        if cluster is not None:
            return cluster
    return UnknownCluster.objects.create(collection=collection, model_key=model_key)


def crop(rgb: np.ndarray, box) -> bytes:
    """The face at `box` (x, y, width, height) with a margin, cut from a photo's or a frame's
    upright RGB pixels and encoded anew: none of an upload's metadata comes along."""
    x, y, w, h = box
    height, width = rgb.shape[:2]
    margin = int(round(CROP_MARGIN * max(w, h)))
    left, top = max(0, x - margin), max(0, y - margin)
    right, bottom = min(width, x + w + margin), min(height, y + h + margin)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[top:bottom, left:right])).save(buffer, "JPEG", quality=CROP_JPEG_QUALITY)
    return buffer.getvalue()
