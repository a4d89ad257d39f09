"""Watching one stream: its frames sampled (streams/reader.py), every face of each identified
without a word to anyone (records.usecases.sightings.identify), followed across frames
(streams/tracking.py), and each appearance reported once with its best frame (sightings.report:
one face.recognized or face.unknown event, one audit event; an unknown one also kept for review
where the collection keeps unknown faces). A camera that drops is opened again
after a pause that doubles up to STREAM_RECONNECT_MAX_SECONDS (a file that cannot be opened
too); a file read to its end ends the watch."""

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
from django.conf import settings

from inbox import keeping
from recognition.quality import FaceQuality
from records.models import Collection
from records.usecases import matching, sightings

from . import reader
from .tracking import Seen, Tracker, TrackerSettings, view_score

logger = logging.getLogger(__name__)

# The first pause before opening a dropped camera again; it doubles each failure in a row.
RECONNECT_FIRST_SECONDS = 1.0
# The frames the achieved rate is measured over.
FPS_WINDOW = 20
# The latest appearances kept in memory (for `manage.py watch`'s summary and bench/streams.py).
APPEARANCES_KEPT = 1000


@dataclass
class Counts:
    """How a watch goes, read by whoever shows it (the runner writes it to the Stream's row)."""

    connected: bool = False
    frames: int = 0
    faces: int = 0  # faces seen, each once per appearance (tracks), reported or not
    events: int = 0  # appearances reported (one face.recognized or face.unknown each)
    reconnects: int = 0
    last_error: str = ""
    last_error_at: float | None = None  # time.time()
    last_frame_at: float | None = None
    frame_times: deque = field(default_factory=lambda: deque(maxlen=FPS_WINDOW))

    @property
    def fps_achieved(self) -> float:
        if len(self.frame_times) < 2:
            return 0.0
        span = self.frame_times[-1] - self.frame_times[0]
        return round((len(self.frame_times) - 1) / span, 2) if span > 0 else 0.0

    def failed(self, error: str) -> None:
        self.connected, self.last_error, self.last_error_at = False, error[:1000], time.time()


@dataclass(frozen=True)
class Appearance:
    """A face reported: its track, when it was first and best seen (stream seconds), and when it
    was reported (time.time(), for the latency measured in bench/streams.py)."""

    track: int
    first_at: float
    best_at: float
    reported_at: float
    name: str | None  # None: unknown
    record_id: str | None


class Watch:
    def __init__(self, name: str, url: str, fps: float, collection, tracker: TrackerSettings | None = None, check_url=None,
                 keep_appearances: bool = False):
        """`check_url(url)`: raises ValueError when the URL may not be opened now (the API's
        streams: streams/registry.py), asked before each connection. `keep_appearances`: the
        latest APPEARANCES_KEPT appearances, names included, kept in `appearances` for whoever
        watches in the foreground (`manage.py watch`, the benchmark); the runner keeps none, so no
        name outlives its event in a long-running process."""
        self.url, self.fps, self.collection, self.check_url = url, fps, collection, check_url
        self.source = sightings.Source("stream", name)
        self.tracker = Tracker(tracker or TrackerSettings())
        self.counts = Counts()
        self.appearances: deque[Appearance] = deque(maxlen=APPEARANCES_KEPT if keep_appearances else 0)
        self.limits = matching.policy().calibration.quality_limits
        self.ended = False  # a file read to its end
        self.connections: deque[float] = deque(maxlen=APPEARANCES_KEPT)  # time.time() as each camera connection began

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, or a file's end."""
        pause = RECONNECT_FIRST_SECONDS
        while not stop.is_set():
            try:
                self._check()
                if reader.is_file(self.url):
                    self._watch(reader.file_frames(self.url, self.fps), stop)
                    self.ended = not stop.is_set()
                    return
                self.connections.append(time.time())
                frames = reader.CameraFrames(self.url, self.fps)
                try:
                    self._watch(frames, stop)
                finally:
                    frames.close()
            except reader.StreamDown as down:
                self.counts.failed(str(down))
                logger.warning("Stream %s: %s; opening it again in %.0f s", self.source.name, down, pause)
            finally:
                self._report(self.tracker.finish())  # what was on screen when it ended or dropped
            if stop.wait(pause):
                return
            pause = min(pause * 2, settings.STREAM_RECONNECT_MAX_SECONDS)
            self.counts.reconnects += 1

    def _check(self) -> None:
        if self.check_url is not None:
            try:
                self.check_url(self.url)
            except ValueError as refused:
                raise reader.StreamDown(f"Refused: {refused}") from None

    def _watch(self, frames, stop: threading.Event) -> None:
        for frame in frames:
            if stop.is_set():
                return
            self.counts.connected, self.counts.last_frame_at = True, time.time()
            self._report(self.tracker.update(self._faces(frame), frame.at))
            self.counts.faces = self.tracker.started
            self.counts.frames += 1
            self.counts.frame_times.append(time.monotonic())

    def _faces(self, frame: reader.Frame) -> list[Seen]:
        # BMP: lossless and nearly free to encode, and one of the formats decode_image reads.
        _, encoded = cv2.imencode(".bmp", frame.bgr)
        seen = sightings.identify_tracked(encoded.tobytes(), collections=[self.collection])
        faces = []
        for face, embedding in zip(seen.match.results, seen.embeddings):
            quality = face.quality or {}
            usable = bool(quality) and (self.limits is None or self.limits.problem(FaceQuality(**quality)) is None)
            view = view_score(quality.get("sharpness", 0.0), quality.get("yaw", 1.0), quality.get("eye_distance", 0.0))
            box = tuple(face.face_box)
            # An unknown face keeps its frame (the frame's own pixels, not a copy): should this be
            # its appearance's best frame, the face is cut from it for the review inbox.
            pixels = frame.bgr if face.best_match is None else None
            faces.append(Seen(frame.at, box, embedding, usable, view, face=(face, seen.match, pixels)))
        return faces

    def _report(self, tracks) -> None:
        for track in tracks:
            face, frame, pixels = track.best.face
            sightings.report(face, frame, self.source, collections=[self.collection])
            if pixels is not None:
                self._keep_unknown(face, frame.model, pixels, track.best.embedding)
            self.counts.events += 1
            best = face.best_match
            self.appearances.append(Appearance(
                track.number, track.first.at, track.best.at, time.time(),
                best.name if best else None, best.id if best else None,
            ))

    def _keep_unknown(self, face, model_key: str, bgr, embedding) -> None:
        """An appearance of nobody enrolled kept in the review inbox, where the stream's collection
        keeps unknown faces: its best face, once per appearance, not once per frame."""
        if not Collection.objects.filter(pk=self.collection.pk, keep_unknown_faces=True).exists():
            return  # nothing cut or encoded (keep_in reads the setting again, under its lock)
        kept = keeping.FaceToKeep(
            keeping.crop(bgr[..., ::-1], face.face_box), face.face_box, face.detection_score, face.quality, embedding
        )
        keeping.keep_in(self.collection, model_key, [kept], how="stream")

