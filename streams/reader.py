"""Frames of a camera or a file, read with OpenCV's FFmpeg backend and sampled at a rate.

A file is read in its own time, as fast as the caller takes frames (a recording is analysed
faster than it plays); its frames are sampled by their position in the video. A camera (RTSP,
HTTP: MJPEG or any stream FFmpeg reads) is read by a thread of its own that keeps only the newest
frame, so a caller slower than the camera analyses the present, not a growing backlog.
"""

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import numpy as np

# RTSP over TCP (FFmpeg's default tries UDP first, which loses frames and is often blocked), unless
# the operator set FFmpeg's capture options for OpenCV themselves. Read when a capture opens.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

# How long opening a camera, and waiting for its next frame, may take before it counts as down.
TIMEOUT_SECONDS = 10


class StreamDown(Exception):
    """The stream could not be opened, or stopped giving frames."""


@dataclass(frozen=True)
class Frame:
    at: float  # seconds since the stream was opened (a file: the frame's position in the video)
    bgr: np.ndarray  # as OpenCV decodes it


def is_file(url: str) -> bool:
    return urlsplit(url).scheme in ("", "file")


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return unquote(parts.path) if parts.scheme == "file" else url


def _open(url: str):
    import cv2

    timeout = int(TIMEOUT_SECONDS * 1000)
    capture = cv2.VideoCapture(
        local_path(url), cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout],
    )
    if not capture.isOpened():
        capture.release()
        raise StreamDown("The stream could not be opened (no answer, refused, or not a video FFmpeg reads).")
    return capture


def file_frames(url: str, fps: float) -> Iterator[Frame]:
    """Every 1/fps seconds of the video's own time, the frame shown then; ends with the file.
    StreamDown when it cannot be opened."""
    import cv2

    capture = _open(url)
    try:
        step, due = 1.0 / fps, 0.0
        while capture.grab():
            at = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if at + 1e-6 < due:
                continue
            ok, bgr = capture.retrieve()
            if not ok:
                continue
            due = at + step
            yield Frame(at, bgr)
    finally:
        capture.release()


class CameraFrames:
    """The newest frame of a live stream, taken at most `fps` times a second. A thread reads
    every frame the camera sends (FFmpeg must decode them to keep up) and keeps the last one.
    Iterating raises StreamDown when the stream stops giving frames for TIMEOUT_SECONDS."""

    def __init__(self, url: str, fps: float):
        self.capture = _open(url)
        self.step = 1.0 / fps
        self.opened = time.monotonic()
        self._newest: np.ndarray | None = None
        self._newest_at = 0.0
        self._fresh = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="stream-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while not self._ended:
                ok, bgr = self.capture.read()
                if not ok:
                    break
                with self._fresh:
                    self._newest, self._newest_at = bgr, time.monotonic()
                    self._fresh.notify_all()
        finally:
            with self._fresh:
                self._ended = True
                self._fresh.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        taken_at, due = 0.0, time.monotonic()
        while True:
            # Every `step` on the runner's own clock, whenever the frames arrive; a runner that fell
            # behind takes the next frame at once, without a burst to catch up.
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            due = max(due + self.step, time.monotonic())
            with self._fresh:
                deadline = time.monotonic() + TIMEOUT_SECONDS
                while not self._ended and self._newest_at <= taken_at and time.monotonic() < deadline:
                    self._fresh.wait(timeout=max(0.0, deadline - time.monotonic()))
                if self._newest_at <= taken_at:
                    raise StreamDown("The stream stopped sending frames." if self._ended else
                                     f"No frame for {TIMEOUT_SECONDS} s.")
                bgr, taken_at = self._newest, self._newest_at
            yield Frame(taken_at - self.opened, bgr)

    def close(self) -> None:
        self._ended = True
        self._reader.join(timeout=TIMEOUT_SECONDS + 1)
        self.capture.release()
