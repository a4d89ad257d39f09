"""Pairs of records that are probably the same person enrolled twice, for cleaning an imported
gallery (`manage.py find_duplicates`, the admin's "Possible duplicates" page)."""

from dataclasses import dataclass

from recognition.models import FaceVector
from recognition.policy import MatchPolicy
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index

from .models import Person

# Nearest people looked at per photo: a record has few probable twins.
NEIGHBOURS_PER_PHOTO = 5


@dataclass(frozen=True)
class DuplicatePair:
    first: Person  # the older record
    second: Person
    distance: float  # between their nearest photos


def probable_duplicates(threshold: float | None = None) -> list[DuplicatePair]:
    """Every pair of records of one collection with photos within `threshold` (default: the match
    threshold, at which a photo of one would be recognised as the other), nearest first.

    One search of the active model's index per stored photo: about a millisecond each for a flat
    index of 10k photos (bench/RESULTS.md), so seconds for a large gallery, run on demand.
    """
    service = get_service()
    threshold = MatchPolicy.of(service.model_key).default_threshold if threshold is None else threshold
    stored = FaceVector.objects.filter(model_key=service.model_key).only("owner_id", "embedding", "partition")
    by_collection: dict[str, list[FaceVector]] = {}
    for row in stored.iterator(chunk_size=2000):
        by_collection.setdefault(row.partition, []).append(row)
    vector_index = get_vector_index(service.model_key)
    owners, found = [], []
    for partition, rows in by_collection.items():
        # Within their own collection only: one person in two collections (staff at two sites, a
        # visitor list beside the staff list) is kept apart on purpose, not enrolled twice.
        owners += [row.owner_id for row in rows]
        found += vector_index.search_many([row.vector for row in rows], NEIGHBOURS_PER_PHOTO + 1, partitions=[partition])
    nearest: dict[tuple, float] = {}
    for person_id, neighbours in zip(owners, found):
        for neighbour in neighbours:
            if neighbour.person_id == person_id or neighbour.distance > threshold:
                continue
            pair = tuple(sorted((person_id, neighbour.person_id), key=str))
            nearest[pair] = min(nearest.get(pair, neighbour.distance), neighbour.distance)
    people = Person.objects.in_bulk({person for pair in nearest for person in pair})
    pairs = []
    for (a, b), distance in nearest.items():
        if a in people and b in people:  # a record deleted meanwhile is left out
            first, second = sorted((people[a], people[b]), key=lambda p: (p.created_at, str(p.pk)))
            pairs.append(DuplicatePair(first, second, round(distance, 4)))
    return sorted(pairs, key=lambda pair: pair.distance)
