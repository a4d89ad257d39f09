"""The tracker on made-up faces (a deterministic double of the pipeline's boxes and embeddings: the
plumbing only; tests/streams/test_watch.py runs it on real photos through the real model)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from streams.tracking import Seen, Tracker, TrackerSettings, iou

pytestmark = pytest.mark.db_independent

FPS = 5


def person(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


def looking_like(face: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    """The same face in another frame: near, not equal (cosine distance about noise²/2)."""
    vector = face + noise * person(seed)
    return vector / np.linalg.norm(vector)


def seen(at, box, embedding, view=1.0, usable=True, face=None):
    return Seen(at, box, embedding, usable, view, face=face)


@dataclass(frozen=True)
class Reported:
    """A track as it was when reported (the tracker goes on adding to it)."""

    best: object  # the best frame's `face`
    hits: int
    track: object


def run(tracker: Tracker, frames: list[list[Seen]]) -> list[Reported]:
    reported = []
    for number, faces in enumerate(frames):
        reported += [Reported(t.best.face, t.hits, t) for t in tracker.update(faces, number / FPS)]
    return reported + [Reported(t.best.face, t.hits, t) for t in tracker.finish()]


def test_one_face_across_frames_is_reported_once_with_its_best_frame():
    alice = person(1)
    frames = [[seen(i / FPS, (100 + 2 * i, 50, 80, 80), looking_like(alice, 100 + i), view=v, face=i)] for i, v in enumerate([1, 3, 2, 5, 4, 0, 9, 1])]
    frames[3][0] = seen(3 / FPS, (106, 50, 80, 80), looking_like(alice, 103), view=99, usable=False, face="blurred")
    tracker = Tracker()
    reported = run(tracker, frames)
    assert len(reported) == 1 and tracker.started == 1
    # Reported after decide_seconds (1 s: 5 frames at 5 fps), with the best usable frame seen by then.
    assert reported[0].best == 4 and reported[0].hits == 6 and reported[0].track.hits == len(frames)


def test_a_cut_to_someone_else_in_the_same_place_is_a_new_appearance():
    alice, bob = person(1), person(2)
    box = (100, 50, 80, 80)
    frames = [[seen(i / FPS, box, looking_like(alice, i), face="alice")] for i in range(6)]
    frames += [[seen((6 + i) / FPS, box, looking_like(bob, 50 + i), face="bob")] for i in range(6)]
    reported = run(Tracker(), frames)
    assert [track.best for track in reported] == ["alice", "bob"]


def test_the_same_person_back_after_the_gap_is_a_second_appearance_and_within_it_the_same():
    alice = person(1)
    box = (100, 50, 80, 80)
    settings = TrackerSettings()
    frames = [[seen(i / FPS, box, looking_like(alice, i))] for i in range(3)]
    frames += [[] for _ in range(int(settings.gap_seconds * FPS) - 1)]  # missed for less than the gap
    frames += [[seen(0, (300, 60, 80, 80), looking_like(alice, 10 + i))] for i in range(3)]  # moved, same face
    frames += [[] for _ in range(int(settings.gap_seconds * FPS) + 2)]  # gone for longer
    frames += [[seen(0, box, looking_like(alice, 20 + i))] for i in range(3)]
    frames = [[Seen(n / FPS, f.box, f.embedding, f.usable, f.view) for f in faces] for n, faces in enumerate(frames)]
    tracker = Tracker(settings)
    assert len(run(tracker, frames)) == 2 and tracker.started == 2


def test_a_face_seen_in_one_frame_only_is_not_reported():
    frames = [[], [seen(0.2, (10, 10, 50, 50), person(3))], [], []]
    assert run(Tracker(), frames) == []


def test_two_people_crossing_keep_their_own_tracks():
    alice, bob = person(1), person(2)
    frames = []
    for i in range(10):  # they walk past each other: boxes overlap in the middle frames
        a = (50 + 30 * i, 50, 80, 80)
        b = (320 - 30 * i, 55, 80, 80)
        frames.append([seen(i / FPS, b, looking_like(bob, 100 + i), face="bob"), seen(i / FPS, a, looking_like(alice, i), face="alice")])
    tracker = Tracker()
    reported = run(tracker, frames)
    assert sorted(track.best for track in reported) == ["alice", "bob"] and tracker.started == 2
    assert all(track.track.hits == 10 for track in reported)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_streams_reaches_the_pipeline_and_writes_people_only_through_use_cases():
    """The one-way-in rule of records' interfaces (tests/core/test_one_way_in.py), for the streams
    app: the runner, the commands and the API."""
    import streams
    from tests.core.test_one_way_in import violations

    sources = sorted(Path(streams.__file__).parent.rglob("*.py"))
    assert len(sources) > 10
    assert [finding for source in sources for finding in violations(source)] == []
