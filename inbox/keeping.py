"""Keeping the faces a match left unnamed, where the collection asks for it (keep_unknown_faces),
and putting each into its cluster on arrival."""

import io

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from audit import log as audit
from recognition.backends.base import DetectedFace
from recognition.imaging import DecodedImage
from recognition.service import FaceAnalysis
from records.models import Collection

from . import index
from .calibration import cluster_distance
from .models import UnknownCluster, UnknownFace

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


def keep(analysis: FaceAnalysis, faces: list[DetectedFace], collections) -> list:
    """Keep each face (crop, vector, quality, when, who asked) in the collection's inbox when it
    keeps unknown faces; the id of each kept face, None for each not kept. Audited."""
    collection = collection_kept_in(collections)
    if collection is None or not collection.keep_unknown_faces:
        return [None] * len(faces)
    model_key = analysis.model_key
    distance = cluster_distance(model_key)
    # Found before the transaction (a search syncs the index, which reads the database): a face
    # arriving at the same moment in another worker may start a cluster of its own for the same
    # person; the re-grouping job merges them.
    nearest = [index.nearest_cluster(model_key, face.embedding, collection.partition) for face in faces]
    crops = [_crop(analysis.image, face) for face in faces]
    kept = []
    with transaction.atomic():
        # Locked and read again: a collection that stops keeping unknown faces erases them in the
        # transaction that turns it off (inbox/receivers.py); a face kept after that commit would
        # outlive the setting, so it is not kept once the lock shows the setting off.
        collection = Collection.objects.select_for_update().filter(pk=collection.pk).first()
        if collection is None or not collection.keep_unknown_faces:
            return [None] * len(faces)
        actor = audit.current_actor()
        for face, found, crop in zip(faces, nearest, crops):
            cluster = _cluster_for(found, distance, collection, model_key)
            unknown = UnknownFace(
                cluster=cluster, collection=collection, face_box=list(face.box), detection_score=face.score,
                quality=face.quality.as_dict() if face.quality else None, seen_by=actor,
                face_vector=index.store(model_key, cluster.pk, face.embedding, collection.partition),
            )
            unknown.crop = ContentFile(crop, name="face.jpg")
            unknown.save()
            kept.append(unknown.pk)
            audit.record(
                audit.Action.KEEP_UNKNOWN, target=unknown.pk, status=201,
                detail={"collection": collection.name, "cluster": str(cluster.pk), "joined": cluster.pk == (found or (None,))[0]},
            )
    from .regrouping import maybe_regroup

    maybe_regroup(collection, model_key)
    return kept


def _cluster_for(found, distance: float, collection: Collection, model_key: str) -> UnknownCluster:
    """The nearest face's cluster when within the distance (locked: a dismissal deleting it commits
    before or after this face joins, never in between), else a new one."""
    if found is not None and found[1] <= distance:
        cluster = UnknownCluster.objects.select_for_update().filter(pk=found[0], collection=collection).first()
        if cluster is not None:
            return cluster
    return UnknownCluster.objects.create(collection=collection, model_key=model_key)


def _crop(image: DecodedImage, face: DetectedFace) -> bytes:
    """The face with a margin, cut from the photo's upright pixels and re-encoded without any of
    the upload's metadata."""
    x, y, w, h = face.box
    margin = int(round(CROP_MARGIN * max(w, h)))
    left, top = max(0, x - margin), max(0, y - margin)
    right, bottom = min(image.width, x + w + margin), min(image.height, y + h + margin)
    buffer = io.BytesIO()
    Image.fromarray(image.rgb[top:bottom, left:right]).save(buffer, "JPEG", quality=CROP_JPEG_QUALITY)
    return buffer.getvalue()
