"""Who is in a photo: the largest face, or every face, against the people enrolled.

`match` answers a `Match` (the largest face) or an `EveryFaceMatch` (`all_faces`), frozen; the API's
serializers render them as the contract's bodies, the pages show them, the audit records them.
"""

import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import transaction

from audit import log as audit
from recognition.backends.base import DetectedFace
from recognition.calibration import Calibration
from recognition.models import IndexState
from recognition.policy import MatchPolicy
from recognition.vectors.indexes import get_vector_index, purpose_key
from recognition.service import FaceAnalysis, FaceService, get_service
from recognition.vectors.types import Neighbour
from records import signals
from records.models import Person

from . import analysis
from .errors import ThresholdNotAllowed, refusals

# People looked at beyond top_k to find the best match's runner-up, or, in a group photo, the next
# candidate of a face whose nearest person was named on a nearer face.
RUNNER_UP_CANDIDATES = 10

# A face's candidates, nearest first: (neighbour in the index, the person it belongs to).
Candidates = list[tuple[Neighbour, Person]]

# Faces a reviewer said are not someone (feedback on a recognition, inbox/feedback.py) are kept in
# an index of their own, `<model key>#not`, each owned by the person it is not, in their
# collection's partition: a match asks it, before naming anyone, whom each face may not be.
NOT_THEM = "not"


@dataclass(frozen=True)
class Candidate:
    """A person a face may be, and how near."""

    id: str
    name: str
    confidence: float
    distance: float
    metadata: dict
    within_threshold: bool


def _within_threshold(candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    return tuple(candidate for candidate in candidates if candidate.within_threshold)


@dataclass(frozen=True)
class FaceFound:
    face_box: list[int]
    detection_score: float


@dataclass(frozen=True)
class FaceIdentified(FaceFound):
    """One face of a photo matched with `all_faces`: who it is named as, if anyone."""

    quality: dict | None
    best_match: Candidate | None  # not always top_matches[0]: one person is named on one face
    top_matches: tuple[Candidate, ...]
    runner_up_ratio: float | None
    unknown_face_id: str | None = None  # left unnamed and kept for the review inbox

    @property
    def recognized(self) -> bool:
        return self.best_match is not None

    def within_threshold_only(self) -> "FaceIdentified":
        return replace(self, top_matches=_within_threshold(self.top_matches))


@dataclass(frozen=True)
class Matched:
    """What every match answers besides its faces: the faces found, and the rule it used."""

    faces_detected: int
    processing_time_ms: float
    threshold: float
    max_ratio: float
    model: str

    face_detected = True  # a photo without a face is refused (NoFaceDetected)


@dataclass(frozen=True)
class Match(Matched):
    """The largest face of the photo matched."""

    best_match: Candidate | None
    top_matches: tuple[Candidate, ...]
    runner_up_ratio: float | None
    face_box: list[int]
    quality: dict | None
    faces: tuple[FaceFound, ...]  # every face found, the matched (largest) first
    unknown_face_id: str | None = None  # left unnamed and kept for the review inbox
    match_id: str | None = None  # named, and kept MATCH_FEEDBACK_HOURS for feedback

    @property
    def recognized(self) -> bool:
        return self.best_match is not None

    def faces_matched(self) -> tuple["Match"]:
        return (self,)

    def with_unknown_face_ids(self, ids: list[str | None]) -> "Match":
        return replace(self, unknown_face_id=ids[0])

    def with_match_id(self, match_id: str | None) -> "Match":
        return replace(self, match_id=match_id)

    def within_threshold_only(self) -> "Match":
        """The same match without the candidates beyond the threshold."""
        return replace(self, top_matches=_within_threshold(self.top_matches))

    def audited(self, top_k: int) -> tuple[str, dict]:
        best = self.best_match
        return best.id if best else "", {
            "recognized": self.recognized,
            "distance": best.distance if best else None,
            "threshold": self.threshold,
            "top_k": top_k,
            "faces_detected": self.faces_detected,
            "returned": [candidate.id for candidate in self.top_matches],
            **_kept(self.match_id),
        }


@dataclass(frozen=True)
class EveryFaceMatch(Matched):
    """Every face of the photo (up to MAX_FACES_PER_PHOTO, largest first) matched."""

    results: tuple[FaceIdentified, ...]
    faces_truncated: bool  # more faces than MAX_FACES_PER_PHOTO: `results` holds the largest
    match_id: str | None = None  # a face named, and the named faces kept MATCH_FEEDBACK_HOURS for feedback

    def with_match_id(self, match_id: str | None) -> "EveryFaceMatch":
        return replace(self, match_id=match_id)

    def faces_matched(self) -> tuple[FaceIdentified, ...]:
        return self.results

    def with_unknown_face_ids(self, ids: list[str | None]) -> "EveryFaceMatch":
        return replace(self, results=tuple(replace(face, unknown_face_id=id) for face, id in zip(self.results, ids)))

    def within_threshold_only(self) -> "EveryFaceMatch":
        return replace(self, results=tuple(face.within_threshold_only() for face in self.results))

    def audited(self, top_k: int) -> tuple[str, dict]:
        named = [face.best_match.id for face in self.results if face.best_match]
        return named[0] if named else "", {  # the largest face named; `named` lists everyone
            "named": named,
            "threshold": self.threshold,
            "top_k": top_k,
            "faces_detected": self.faces_detected,
            "faces_matched": len(self.results),
            "returned": sorted({candidate.id for face in self.results for candidate in face.top_matches}),
            **_kept(self.match_id),
        }


def _kept(match_id: str | None) -> dict:
    """The match's audit event says when its named faces were kept for feedback, and under what id."""
    return {"match_id": match_id} if match_id else {}


def policy() -> MatchPolicy:
    """The match policy of the model in use (its key is known without loading the model)."""
    return MatchPolicy.of(get_service().model_key)


def threshold_allowed(threshold: float | None, may_read: bool) -> bool:
    """A caller who may not read people may ask for no threshold above MATCH_MAX_THRESHOLD: with a
    looser one the gallery could be searched for look-alikes."""
    return may_read or threshold is None or threshold <= policy().match_max_threshold


def check_threshold(threshold: float | None, may_read: bool) -> None:
    if not threshold_allowed(threshold, may_read):
        raise ThresholdNotAllowed(
            f"threshold: {threshold} is above MATCH_MAX_THRESHOLD ({policy().match_max_threshold}), "
            "the most a caller that may not read people may ask for."
        )


def match(
    data: bytes,
    top_k: int,
    threshold: float | None = None,
    may_read: bool = True,
    all_faces: bool = False,
    collections=None,
) -> Match | EveryFaceMatch:
    """The largest face matched, or with `all_faces` every face (up to MAX_FACES_PER_PHOTO,
    largest first); raises NoFaceDetected when the photo has no face. Audited.

    A caller who may read people (the `read` scope, `records.view_person`) gets the nearest top_k
    people, within the threshold or not. One who may only match (a door camera) learns no more
    than who the photo is: only candidates within the threshold, and a threshold of at most
    MATCH_MAX_THRESHOLD (ThresholdNotAllowed), so the gallery cannot be searched for look-alikes.

    With `collections` (Collection objects) only their people are candidates, however near a person
    of another is; None searches everyone.
    """
    with refusals(audit.Action.MATCH, probe=data):
        check_threshold(threshold, may_read)
        partitions = None if collections is None else [collection.partition for collection in collections]
        match_photo = match_every_face if all_faces else _match
        result, found, faces = match_photo(data, top_k, threshold, partitions)
        result = _keep_unnamed(result, found, faces, collections)
        result = _keep_named(result, found, faces, collections)
    if not may_read:
        result = result.within_threshold_only()
    target, detail = result.audited(top_k)
    with transaction.atomic():  # the faces' events commit with the match's audit event, or neither
        audit.record(audit.Action.MATCH, target=target, detail=detail, probe=data)
        signals.faces_matched.send(Person, result=result, homes=homes_of(result), collections=collections)
    return result


def _keep_unnamed(result, found: FaceAnalysis, faces: list[DetectedFace], collections):
    """The match with the id each face it left unnamed was kept under, where a receiver of
    faces_left_unnamed (the review inbox) kept it; records knows nothing of who listens."""
    unnamed = [i for i, answer in enumerate(result.faces_matched()) if not answer.recognized]
    if not unnamed:
        return result
    ids: list[str | None] = [None] * len(faces)
    replies = signals.faces_left_unnamed.send(
        sender=FaceAnalysis, analysis=found, faces=[faces[i] for i in unnamed], collections=collections
    )
    for _, kept in replies:
        for i, unknown_face_id in zip(unnamed, kept):
            if unknown_face_id is not None:
                ids[i] = str(unknown_face_id)
    return result.with_unknown_face_ids(ids)


def _keep_named(result, found: FaceAnalysis, faces: list[DetectedFace], collections):
    """The match with the id its named faces were kept under for feedback, where a receiver of
    faces_named (the review inbox) kept them."""
    if not any(answer.recognized for answer in result.faces_matched()):
        return result
    replies = signals.faces_named.send(sender=FaceAnalysis, analysis=found, faces=faces, result=result, collections=collections)
    kept = [str(match_id) for _, match_id in replies if match_id is not None]
    return result.with_match_id(kept[0] if kept else None)


def homes_of(result: "Match | EveryFaceMatch") -> dict[str, str]:
    """Record id -> collection name of everyone a match named (the events say where each was)."""
    named = [face.best_match.id for face in result.faces_matched() if face.best_match]
    if not named:
        return {}
    return {str(pk): name for pk, name in Person.objects.filter(pk__in=named).values_list("pk", "collection__name")}


@dataclass(frozen=True)
class MatchRule:
    """When a candidate may be named: within the threshold, and clearly nearer than the nearest
    person of another name after it (the runner-up ratio)."""

    threshold: float
    max_ratio: float
    calibration: Calibration

    @classmethod
    def of(cls, policy: MatchPolicy, threshold: float | None) -> "MatchRule":
        threshold = policy.default_threshold if threshold is None else threshold
        return cls(threshold, policy.default_max_ratio, policy.calibration)

    def accepts(self, candidates: Candidates, position: int) -> bool:
        ratio = _runner_up_ratio(candidates[position:])
        return candidates[position][0].distance <= self.threshold and (ratio is None or ratio <= self.max_ratio)

    def described(self, neighbour: Neighbour, person: Person) -> Candidate:
        return Candidate(
            id=str(person.pk),
            name=person.name,
            confidence=round(self.calibration.confidence(neighbour.distance), 4),
            distance=round(neighbour.distance, 4),
            metadata=person.metadata,
            within_threshold=neighbour.distance <= self.threshold,
        )


def search(service: FaceService, faces: list[DetectedFace], top_k: int, partitions=None) -> list[Candidates]:
    """Each face's nearest people (of `partitions` only, unless None), one database query for all
    of them. A person deleted between the search and the query is left out."""
    vectors = [face.embedding for face in faces]
    found = get_vector_index(service.model_key).search_many(vectors, max(top_k, RUNNER_UP_CANDIDATES), partitions)
    people = Person.objects.in_bulk({n.person_id for neighbours in found for n in neighbours})
    return [[(n, people[n.person_id]) for n in neighbours if n.person_id in people] for neighbours in found]


def _identified(candidates: Candidates, named: int | None, rule: MatchRule, top_k: int) -> dict:
    """Who one face is (the candidate at position `named`, or nobody) and its nearest people."""
    ratio = _runner_up_ratio(candidates[named or 0 :])
    return {
        "best_match": rule.described(*candidates[named]) if named is not None else None,
        "top_matches": tuple(rule.described(neighbour, person) for neighbour, person in candidates[:top_k]),
        "runner_up_ratio": None if ratio is None else round(ratio, 4),
    }


def _rule_and_time(rule: MatchRule, service: FaceService, started: float) -> dict:
    return {
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
        "threshold": rule.threshold,
        "max_ratio": rule.max_ratio,
        "model": service.model_key,
    }


# Each returns the match, the photo's analysis and the faces matched (as the match lists them).
def _match(data: bytes, top_k: int, threshold: float | None, partitions: list[str] | None):
    started = time.perf_counter()
    service = get_service()
    rule = MatchRule.of(MatchPolicy.of(service.model_key), threshold)
    found = analysis.analyse_photo(data)
    face = found.primary
    [(candidates, nearest_not_them)] = without_not_them(service, [face], search(service, [face], top_k, partitions), partitions)
    named = 0 if candidates and not nearest_not_them and rule.accepts(candidates, 0) else None
    result = Match(
        **_identified(candidates, named, rule, top_k),
        faces_detected=len(found.faces),
        face_box=list(face.box),
        quality=analysis.quality_of(face),
        faces=tuple(FaceFound(list(f.box), f.score) for f in found.faces),
        **_rule_and_time(rule, service, started),
    )
    return result, found, [face]


def match_every_face(
    data: bytes, top_k: int, threshold: float | None, partitions: list[str] | None, faceless_ok: bool = False
):
    """Every face of the photo (the MAX_FACES_PER_PHOTO largest) matched, nothing written or
    audited: (the answer, the analysis, the DetectedFaces matched in the answer's order). `match`
    audits it; sightings.py reports it. `faceless_ok`: a photo without a face answers no faces (a
    camera's frame) instead of raising NoFaceDetected."""
    started = time.perf_counter()
    service = get_service()
    rule = MatchRule.of(MatchPolicy.of(service.model_key), threshold)
    found = analysis.analyse_photo(data, embed_all=True)
    if not faceless_ok:
        found.primary  # raises NoFaceDetected
    # The MAX_FACES_PER_PHOTO largest, the only ones embedded (recognition's analyse).
    faces = [face for face in found.faces if face.embedding is not None]
    nameable: list[Candidates] = []  # as `candidates`, but none for a face whose nearest person it is not
    candidates = []
    if faces:
        for nearest, nearest_not_them in without_not_them(service, faces, search(service, faces, top_k, partitions), partitions):
            candidates.append(nearest)
            nameable.append([] if nearest_not_them else nearest)
    results = tuple(
        FaceIdentified(
            face_box=list(face.box),
            detection_score=face.score,
            quality=analysis.quality_of(face),
            **_identified(nearest, named, rule, top_k),
        )
        for face, nearest, named in zip(faces, candidates, assign_names(nameable, rule))
    )
    result = EveryFaceMatch(
        results=results,
        faces_detected=len(found.faces),
        faces_truncated=len(found.faces) > len(faces),
        **_rule_and_time(rule, service, started),
    )
    return result, found, faces


def without_not_them(
    service: FaceService, faces: list[DetectedFace], candidates: list[Candidates], partitions=None
) -> list[tuple[Candidates, bool]]:
    """Each face's candidates without the people it is not (`not_them`), and whether its nearest
    candidate was one: such a face is answered unknown rather than named as the next nearest, whom
    nothing says it is (bench/match_feedback.py)."""
    key = purpose_key(service.model_key, NOT_THEM)
    if not IndexState.objects.filter(pk=key).exists():  # nobody was ever said not to be anyone: nothing to ask
        return [(nearest, False) for nearest in candidates]
    index = get_vector_index(key)
    said_not = index.search_many([face.embedding for face in faces], RUNNER_UP_CANDIDATES, partitions)
    return [excluding(nearest, {n.person_id: n.distance for n in rejected}) for nearest, rejected in zip(candidates, said_not)]


def excluding(candidates: Candidates, said_not: dict, nearer_rule: bool | None = None) -> tuple[Candidates, bool]:
    """The candidates without those `not_them` excludes, and whether the nearest was one."""
    excluded = not_them(candidates, said_not, nearer_rule)
    kept = [candidate for candidate in candidates if candidate[0].person_id not in excluded]
    return kept, bool(candidates) and candidates[0][0].person_id in excluded


def not_them(candidates: Candidates, said_not: dict, nearer_rule: bool | None = None) -> set:
    """The candidates (their ids) a face may not be named as, given `said_not` (person id -> the
    face's distance to the nearest face a reviewer said is not them): a copy of such a face
    (NEAR_COPY_DISTANCE), never; and with the rule (MATCH_FEEDBACK_NOT_THEM_RULE) a face nearer to
    it than to the person's nearest photo, which is more like what they are not than like them."""
    nearer_rule = settings.MATCH_FEEDBACK_NOT_THEM_RULE if nearer_rule is None else nearer_rule
    excluded = set()
    for neighbour, _ in candidates:
        distance = said_not.get(neighbour.person_id)
        if distance is not None and (
            distance <= settings.NEAR_COPY_DISTANCE or (nearer_rule and distance <= neighbour.distance)
        ):
            excluded.add(neighbour.person_id)
    return excluded


def assign_names(faces: list[Candidates], rule: MatchRule) -> list[int | None]:
    """For each face, the position of the candidate it is named as, or None: unknown.

    One person is named at most once per photo. The acceptable (face, candidate) pairs are taken
    nearest first, so when two faces have the same nearest person the nearer face keeps the name
    and the other falls to its next acceptable candidate, or to unknown.
    """
    acceptable = sorted(
        (neighbour.distance, face, position)
        for face, candidates in enumerate(faces)
        for position, (neighbour, _) in enumerate(candidates)
        if rule.accepts(candidates, position)
    )
    named: list[int | None] = [None] * len(faces)
    taken = set()
    for _, face, position in acceptable:
        person = faces[face][position][1].pk
        if named[face] is None and person not in taken:
            named[face] = position
            taken.add(person)
    return named


def _runner_up_ratio(candidates: Candidates) -> float | None:
    """Best distance over the distance of the nearest person with another name.

    A stranger is usually about as far from several enrolled people; someone enrolled stands out
    from the rest. Requiring the best match to be clearly nearer than the runner-up keeps
    strangers out in a large gallery while accepting many more enrolled people than a stricter
    distance would (bench/RESULTS.md). Records with the same name are taken as the same person
    enrolled twice, not as a competitor. None when there is no other person to compare with.
    """
    if not candidates:
        return None
    best, best_person = candidates[0]
    for neighbour, person in candidates[1:]:
        if person.name.casefold() != best_person.name.casefold():
            return best.distance / max(neighbour.distance, 1e-6)
    return None
