"""Each face followed across the sampled frames of a stream, so that one appearance is reported
once, not once per frame.

A face seen in a frame joins the track whose last box it overlaps (IoU) and whose face it looks
like (cosine distance of the embeddings, the same measure the gallery is searched with); a face
that overlaps no track but looks like one very closely joins it too (a cut, a jump). Faces are
paired with tracks by the Hungarian algorithm (scipy's linear_sum_assignment) on a cost of both,
so two people crossing keep their own tracks. The embedding is what splits a cut from one person
to another in the same place, which boxes alone cannot see.

A track is reported once: `decide_seconds` after it was first seen (or when it ends, if sooner),
with its best frame so far: a face without a quality problem before any with one, then the
sharpest and most frontal. It ends when it has not been seen for `gap_seconds`; a face seen again
after that is a new appearance.

No library here: norfair needs numpy < 2 and rich < 15 (the lock has numpy 2.4 and rich 15), and
supervision's and roboflow's trackers pull in opencv-python beside the lock's
opencv-contrib-python-headless (both install cv2) with matplotlib and PyAV, for IoU-only
ByteTrack; the assignment itself is scipy's.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[int, int, int, int]  # x, y, width, height

# A pair cost that cannot be chosen (linear_sum_assignment needs finite costs).
NOT_A_PAIR = 1e6


@dataclass(frozen=True)
class Seen:
    """One face in one frame: where, what it looks like, how good a view it is, and what the
    caller will report if this turns out to be the track's best frame (`face`)."""

    at: float  # seconds, on the stream's clock
    box: Box
    embedding: np.ndarray  # L2-normalised
    usable: bool  # no quality problem (recognition/quality.py's limits)
    view: float  # the higher the better among usable ones: sharp, frontal, large
    face: Any = None


@dataclass
class Track:
    number: int
    first: Seen
    last: Seen
    best: Seen
    hits: int = 1
    reported: bool = False
    embedding: np.ndarray = field(default=None)  # the running mean of its faces, re-normalised

    def __post_init__(self):
        if self.embedding is None:
            self.embedding = self.first.embedding

    def add(self, seen: Seen) -> None:
        self.last = seen
        self.hits += 1
        if (seen.usable, seen.view) > (self.best.usable, self.best.view):
            self.best = seen
        mean = self.embedding * (self.hits - 1) + seen.embedding
        self.embedding = mean / max(float(np.linalg.norm(mean)), 1e-6)


@dataclass(frozen=True)
class TrackerSettings:
    gap_seconds: float = 1.5  # unseen this long: the appearance is over
    decide_seconds: float = 1.0  # seen this long: reported with its best frame so far
    min_hits: int = 2  # seen in fewer frames than this: a false detection, never reported
    min_iou: float = 0.2  # overlapping at least this much ...
    same_face_distance: float = 0.6  # ... and at most this far in cosine distance: the same face
    near_face_distance: float = 0.35  # this near: the same face wherever it is in the frame


class Tracker:
    def __init__(self, settings: TrackerSettings = TrackerSettings()):
        self.settings = settings
        self.tracks: list[Track] = []
        self.started = 0  # tracks made so far

    def update(self, faces: list[Seen], now: float) -> list[Track]:
        """Add one frame's faces (seen at `now`); the tracks to report now, each once."""
        ended = [track for track in self.tracks if now - track.last.at > self.settings.gap_seconds]
        self.tracks = [track for track in self.tracks if track not in ended]
        unpaired = set(range(len(faces)))
        if self.tracks and faces:
            cost = np.array([[self._cost(track, face) for face in faces] for track in self.tracks])
            for row, column in zip(*linear_sum_assignment(cost)):
                if cost[row, column] < NOT_A_PAIR:
                    self.tracks[row].add(faces[column])
                    unpaired.discard(column)
        for column in sorted(unpaired):
            self.started += 1
            self.tracks.append(Track(self.started, first=faces[column], last=faces[column], best=faces[column]))
        due = [track for track in ended if self._reportable(track)]
        due += [track for track in self.tracks if self._reportable(track) and now - track.first.at >= self.settings.decide_seconds]
        for track in due:
            track.reported = True
        return due

    def finish(self) -> list[Track]:
        """The stream ended: every track not reported yet that may be."""
        due = [track for track in self.tracks if self._reportable(track)]
        for track in due:
            track.reported = True
        self.tracks = []
        return due

    def _reportable(self, track: Track) -> bool:
        return not track.reported and track.hits >= self.settings.min_hits

    def _cost(self, track: Track, face: Seen) -> float:
        overlap = iou(track.last.box, face.box)
        distance = 1.0 - float(track.embedding @ face.embedding)
        same = overlap >= self.settings.min_iou and distance <= self.settings.same_face_distance
        if not same and distance > self.settings.near_face_distance:
            return NOT_A_PAIR
        return (1.0 - overlap) + distance


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def view_score(sharpness: float, yaw: float, eye_distance: float) -> float:
    """How good a view a face is, for choosing a track's best frame: sharper (the Laplacian's
    variance, on a log scale: it spans orders of magnitude), more frontal (yaw in eye distances;
    0.1 of yaw costs about as much as halving the sharpness) and larger."""
    return math.log1p(max(sharpness, 0.0)) - 7.0 * abs(yaw) + 0.5 * math.log1p(max(eye_distance, 0.0))
