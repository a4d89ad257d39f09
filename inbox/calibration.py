"""How near two unknown faces must be to be put in one cluster, per model key, with where each
number comes from (bench/inbox_clusters.py on LFW DevTrain; bench/RESULTS.md, "Review inbox")."""

from django.conf import settings

from recognition.policy import MatchPolicy

# Model key -> (largest cosine distance at which an arriving face joins its nearest kept face's
# cluster, and at which a re-grouped cluster is cut; HDBSCAN's min_cluster_size).
CALIBRATED = {
    "ArcFace-MBF:scrfd:arcface112-v3": (0.60, 2),
    # The mirror embedding (FACE_EMBED_MIRROR): the same choice, 99.2% pure, 97.3% complete.
    "ArcFace-MBF:scrfd:arcface112-flip-v3": (0.60, 2),
}


def cluster_distance(model_key: str) -> float:
    if settings.UNKNOWN_CLUSTER_DISTANCE is not None:
        return settings.UNKNOWN_CLUSTER_DISTANCE
    if model_key in CALIBRATED:
        return CALIBRATED[model_key][0]
    # Not measured for this model: its match threshold, which is meant for one person's faces too.
    return MatchPolicy.of(model_key).default_threshold


def min_cluster_size(model_key: str) -> int:
    return CALIBRATED.get(model_key, (None, 2))[1]
