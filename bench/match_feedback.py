"""Feedback on recognitions, measured on LFW DevTrain: what a reviewer who confirms or corrects the
first N answers does to the answers after them.

Half of the people with two photos or more are enrolled from their first photo (at random, --seed);
the other photos stream in as matches (at most --per-person per person, so George W Bush's 530 do
not make the figures his; shuffled): those of enrolled people, and those of people never enrolled
(the rest of the people with several photos, and --strangers people with one photo) who should be
answered unknown. A simulated reviewer gives the truth for every named face among the first N
answers, as `POST /matches/{id}/feedback` would:
- named right: confirmed; with "confirm adds a photo" the face becomes their photo (when it passes
  the quality gate and is not a copy of a photo they have);
- named wrong: "not this person", with record_id when the face's person is enrolled (the face
  becomes their photo), else to the inbox (which a match never searches).
Then the answers after the first N are scored: recognised (an enrolled person's photo named as
them), wrong name (named as someone else), strangers accepted (a never-enrolled person named), for
each way of using the feedback: none; "not them" near copies only; the "nearer than their photos"
rule; each with and without "confirm adds a photo".

The decision is the service's (records/usecases/matching.py: the candidates, MatchRule,
`excluding`); the index is an exact scan of the same vectors here (the service's FAISS index is
exact too), so a run takes seconds once the embeddings are cached (bench/embeddings.py). Not timed.

    python -m bench.match_feedback --manifest ../shared/faces/lfw/manifest.csv --reviewed 500,2000
"""

import argparse
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEEDBACK_WAYS = {  # name -> (feedback given, the nearer rule, confirm adds a photo)
    "no feedback": (False, False, False),
    "copies only": (True, False, False),
    "copies only + confirmed photos": (True, False, True),
    "nearer rule": (True, True, False),
    "nearer rule + confirmed photos": (True, True, True),
}


@dataclass(frozen=True)
class Someone:
    """What matching reads of a candidate (records' Person): its id and name."""

    pk: uuid.UUID
    name: str


@dataclass
class Gallery:
    """The people's photos and the faces said not them, as the two indexes hold them."""

    vectors: list = field(default_factory=list)
    owners: list = field(default_factory=list)
    said_not: list = field(default_factory=list)
    said_not_owners: list = field(default_factory=list)

    def nearest_owners(self, vectors, owners, probe, k):
        from recognition.vectors.types import Neighbour

        if not vectors:
            return []
        distances = 1.0 - np.stack(vectors) @ probe
        found, seen = [], set()
        for i in np.argsort(distances, kind="stable"):
            if owners[i] not in seen:
                seen.add(owners[i])
                found.append(Neighbour(owners[i], int(i), float(distances[i])))
                if len(found) == k:
                    break
        return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default="../shared/faces/lfw/manifest.csv")
    parser.add_argument("--per-person", type=int, default=10)
    parser.add_argument("--strangers", type=int, default=1000, help="people with one photo, never enrolled")
    parser.add_argument("--reviewed", default="500,2000", help="N: the answers the reviewer gives the truth for")
    parser.add_argument("--thresholds", default="", help="default: the model's match threshold and its 1:1 threshold")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from bench.embeddings import QUALITY_FIELDS, central_quality, embed_paths, people_of, setup_django

    setup_django()
    from django.conf import settings

    from recognition.policy import MatchPolicy
    from recognition.quality import FaceQuality
    from recognition.service import get_service
    from records.usecases.matching import RUNNER_UP_CANDIDATES, MatchRule, excluding

    service = get_service()
    policy = MatchPolicy.of(service.model_key)
    people = people_of(Path(args.manifest))
    rng = random.Random(args.seed)
    several = sorted(name for name, photos in people.items() if len(photos) > 1)
    enrolled = set(rng.sample(several, len(several) // 2))
    singles = sorted(name for name, photos in people.items() if len(photos) == 1)
    stream = [(name, path) for name in several for path in people[name][1 : 1 + args.per_person]]
    stream += [(name, people[name][0]) for name in several if name not in enrolled]
    stream += [(name, people[name][0]) for name in rng.sample(singles, min(args.strangers, len(singles)))]
    rng.shuffle(stream)
    paths = [people[name][0] for name in sorted(enrolled)] + [path for _, path in stream]
    vectors, qualities = embed_paths(paths, progress=False), central_quality(paths, progress=False)
    analysed = {path: (vectors[path], qualities[path]) for path in paths}
    ids = {name: uuid.uuid5(uuid.NAMESPACE_URL, name) for name in people}
    someone = {ids[name]: Someone(ids[name], name) for name in people}
    limits = policy.calibration.quality_limits

    def passes_gate(quality) -> bool:
        if limits is None or quality is None or np.isnan(quality).any():
            return True
        return limits.problem(FaceQuality(**dict(zip(QUALITY_FIELDS, map(float, quality))))) is None

    arrived = [(name, analysed[path]) for name, path in stream if analysed[path][0] is not None]
    print(f"{len(enrolled)} people enrolled from one photo; {len(arrived)} faces stream in "
          f"({sum(name in enrolled for name, _ in arrived)} of enrolled people), model {service.model_key}")
    thresholds = [float(t) for t in args.thresholds.split(",")] if args.thresholds else [
        policy.default_threshold, policy.verification_threshold
    ]
    print("| threshold | reviewed N | feedback | recognised | wrong name | strangers accepted | not-them faces | photos added |")
    print("|---|---|---|---|---|---|---|---|")
    for threshold in thresholds:
        rule = MatchRule(threshold, policy.default_max_ratio, policy.calibration)
        for reviewed in [int(n) for n in args.reviewed.split(",")]:
            for way, (given, nearer, confirm_adds) in FEEDBACK_WAYS.items():
                gallery = Gallery()
                for name in sorted(enrolled):
                    vector, _ = analysed[people[name][0]]
                    if vector is not None:
                        gallery.vectors.append(vector)
                        gallery.owners.append(ids[name])
                counts = {"enrolled": 0, "recognised": 0, "wrong": 0, "strangers": 0, "accepted": 0, "added": 0}
                for position, (name, (vector, quality)) in enumerate(arrived):
                    nearest = gallery.nearest_owners(gallery.vectors, gallery.owners, vector, RUNNER_UP_CANDIDATES)
                    candidates = [(n, someone[n.person_id]) for n in nearest]
                    said_not = {}
                    if given:
                        found = gallery.nearest_owners(gallery.said_not, gallery.said_not_owners, vector, RUNNER_UP_CANDIDATES)
                        said_not = {n.person_id: n.distance for n in found}
                    kept, nearest_not_them = excluding(candidates, said_not, nearer)
                    named = kept[0][1].name if kept and not nearest_not_them and rule.accepts(kept, 0) else None
                    if position < reviewed:
                        if named is None or not given:
                            continue  # the inbox's to review, not a recognition's
                        if named == name:
                            if confirm_adds and passes_gate(quality) and kept[0][0].distance > settings.NEAR_COPY_DISTANCE:
                                gallery.vectors.append(vector)
                                gallery.owners.append(ids[name])
                                counts["added"] += 1
                        else:
                            gallery.said_not.append(vector)
                            gallery.said_not_owners.append(ids[named])
                            if name in enrolled and passes_gate(quality):  # record_id: the right person's photo
                                gallery.vectors.append(vector)
                                gallery.owners.append(ids[name])
                                counts["added"] += 1
                        continue
                    if name in enrolled:
                        counts["enrolled"] += 1
                        counts["recognised"] += named == name
                        counts["wrong"] += named is not None and named != name
                    else:
                        counts["strangers"] += 1
                        counts["accepted"] += named is not None
                print(
                    f"| {threshold:.4f} | {reviewed} | {way} | {counts['recognised'] / counts['enrolled']:.2%} | "
                    f"{counts['wrong'] / counts['enrolled']:.2%} | {counts['accepted'] / counts['strangers']:.2%} | "
                    f"{len(gallery.said_not)} | {counts['added']} |"
                )


if __name__ == "__main__":
    main()
