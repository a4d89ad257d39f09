"""Grouping unknown faces into suggested people, and scoring a grouping against known identities
(bench/inbox_clusters.py calibrates with it). Pure numpy and scikit-learn: no database here.

Two rules work together:
- on arrival a face joins the cluster of its nearest kept face when that face is within the
  calibrated distance (the service asks the inbox's vector index for it: inbox/keeping.py), and
  starts a cluster of its own otherwise;
- a re-grouping job runs HDBSCAN (scikit-learn) over a collection's faces, which finds the merges
  (one person's faces that arrived in two clusters) and splits (a chain of arrivals that linked two
  people) the arrival rule cannot see; its clusters are then cut again at the calibrated distance
  (complete linkage), so no suggested person holds two faces farther apart than that.
"""

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN

NOISE = -1


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """Of L2-normalised vectors, as the index measures them."""
    return np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)


def arrival_groups(vectors: np.ndarray, max_distance: float) -> np.ndarray:
    """What assignment on arrival makes of faces arriving in this order: each joins the cluster of
    its nearest earlier face within `max_distance`, or starts one. (The service finds that face
    through its vector index; an exact scan here gives the same answer.)"""
    labels = np.empty(len(vectors), dtype=int)
    for i in range(len(vectors)):
        if i:
            distances = 1.0 - vectors[:i] @ vectors[i]
            nearest = int(np.argmin(distances))
            if distances[nearest] <= max_distance:
                labels[i] = labels[nearest]
                continue
        labels[i] = i
    return labels


def regroup(vectors: np.ndarray, min_cluster_size: int, max_distance: float) -> np.ndarray:
    """HDBSCAN's clusters of the faces, each cut so that no two of its faces are farther apart
    than `max_distance`; faces HDBSCAN leaves as noise are NOISE (-1)."""
    if len(vectors) < max(2, min_cluster_size):
        return np.full(len(vectors), NOISE)
    # Euclidean on unit vectors orders pairs as the cosine distance does (|a-b|^2 = 2 cosine), and
    # needs no n x n matrix: a collection's week of faces may be tens of thousands.
    found = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=1, metric="euclidean", copy=True).fit_predict(vectors)
    labels = np.full(len(vectors), NOISE)
    next_label = 0
    for label in sorted(set(found) - {NOISE}):
        members = np.flatnonzero(found == label)
        for part in _cut(cosine_distances(vectors[members]).astype(np.float64), max_distance):
            labels[members[part]] = next_label
            next_label += 1
    return labels


def _cut(distances: np.ndarray, max_distance: float) -> list[np.ndarray]:
    """Complete-linkage groups of one cluster: no two members farther apart than max_distance."""
    if len(distances) == 1:
        return [np.array([0])]
    condensed = distances[np.triu_indices(len(distances), k=1)]
    parts = fcluster(linkage(condensed, method="complete"), t=max_distance, criterion="distance")
    return [np.flatnonzero(parts == part) for part in np.unique(parts)]


@dataclass(frozen=True)
class Scores:
    suggested: int  # clusters of at least min_faces faces
    pure: float  # share of them whose faces are all one person
    completeness: float  # share of the faces of people seen at least min_faces times that are in their person's largest pure cluster
    people_found: float  # share of people seen at least min_faces times with a pure suggested cluster
    faces_in_suggestions: float  # share of all faces in a suggested cluster


def scores(labels: np.ndarray, identities: list[str], min_faces: int) -> Scores:
    """How a grouping of faces compares with who they are. Noise (-1) counts as one-face clusters."""
    labels = np.asarray(labels).copy()
    singles = labels == NOISE
    labels[singles] = labels.max(initial=0) + 1 + np.arange(int(singles.sum()))
    identities = np.asarray(identities)
    clusters = {label: np.flatnonzero(labels == label) for label in np.unique(labels)}
    suggested = {label: members for label, members in clusters.items() if len(members) >= min_faces}
    pure = {label for label, members in suggested.items() if len(set(identities[members])) == 1}
    seen = {name: int(count) for name, count in zip(*np.unique(identities, return_counts=True)) if count >= min_faces}
    best: dict[str, int] = {}
    for label in pure:
        name = identities[suggested[label][0]]
        best[name] = max(best.get(name, 0), len(suggested[label]))
    faces_of_seen = sum(seen.values())
    return Scores(
        suggested=len(suggested),
        pure=len(pure) / len(suggested) if suggested else 1.0,
        completeness=sum(best.get(name, 0) for name in seen) / faces_of_seen if faces_of_seen else 1.0,
        people_found=sum(name in best for name in seen) / len(seen) if seen else 1.0,
        faces_in_suggestions=sum(len(m) for m in suggested.values()) / len(labels) if len(labels) else 0.0,
    )
