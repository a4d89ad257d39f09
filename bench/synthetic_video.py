"""A video made of LFW photos, for the stream tests and bench/streams.py: each scene a photo of one
person (or an empty frame) on screen for some seconds, with what is on screen when known; and an
RTSP camera that plays it in real time (bench/rtsp_server.py).

Made at run time in a temporary folder (never committed): ffmpeg's concat demuxer shows each
photo for its scene's length, each placed on a 640x360 grey frame (the photo at its own 250x250 px,
at the scene's position, so a cut between two people can happen in the same place or elsewhere).
"""

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

WIDTH, HEIGHT = 640, 360
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with PyGObject (bench/rtsp_server.py); run with -I: bench/ shadows stdlib names
FRAME_RATE = 10  # of the video itself; the runner samples it at its own fps


@dataclass(frozen=True)
class Scene:
    seconds: float
    photo: Path | None = None  # None: no one on screen
    identity: str = ""  # LFW's name of the person shown
    x: int = 195  # where the photo's top-left corner is
    y: int = 55


@dataclass(frozen=True)
class Appearance:
    """One person on screen from `start` to `end` (seconds into the video)."""

    identity: str
    start: float
    end: float


def appearances(scenes: list[Scene]) -> list[Appearance]:
    """Who is on screen when, one entry per scene with a person (two scenes in a row of the same
    person and place would be one appearance: the tests' scripts avoid them)."""
    found, start = [], 0.0
    for scene in scenes:
        if scene.photo is not None:
            found.append(Appearance(scene.identity, start, start + scene.seconds))
        start += scene.seconds
    return found


def make_video(scenes: list[Scene], folder: Path, name: str = "scenes.mkv") -> Path:
    """An H.264 video (Matroska: what bench/rtsp_server.py serves) of the scenes at FRAME_RATE
    frames a second, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for number, scene in enumerate(scenes):
        frame = folder / f"scene-{number:03d}.png"
        _compose(scene, frame)
        frames.append((frame, scene.seconds))
    listing = folder / "scenes.ffconcat"
    lines = ["ffconcat version 1.0"]
    for frame, seconds in frames:
        lines += [f"file '{frame}'", f"duration {seconds}"]
    lines.append(f"file '{frames[-1][0]}'")  # the concat demuxer drops the last entry's duration otherwise
    listing.write_text("\n".join(lines) + "\n")
    video = folder / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-vf", f"fps={FRAME_RATE},format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", str(FRAME_RATE),
         "-t", str(sum(scene.seconds for scene in scenes)), str(video)],
        check=True, timeout=300,
    )
    return video


def _compose(scene: Scene, path: Path) -> None:
    from PIL import Image

    canvas = Image.new("RGB", (WIDTH, HEIGHT), (128, 128, 128))
    if scene.photo is not None:
        with Image.open(scene.photo) as photo:
            canvas.paste(photo.convert("RGB"), (scene.x, scene.y))
    canvas.save(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """An RTSP camera playing `video` (bench/rtsp_server.py, GStreamer's RTSP server, in Debian's
    python3), each client from its start in real time, at `url`; `stop()` kills it (the stream
    drops), `start()` serves it again on the same port."""

    def __init__(self, video: Path, port: int | None = None):
        self.video, self.port = video, port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/x"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RtspServer":
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, "-I", str(Path(__file__).with_name("rtsp_server.py")), str(self.video), str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the RTSP server exited with {self.process.returncode}")
            if _listening(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the RTSP server did not listen in 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> "RtspServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def rtsp_server_missing() -> str | None:
    """Why bench/rtsp_server.py cannot run here, or None."""
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", check], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-good are needed (.ci/run installs them)"
    return None


def _listening(port: int) -> bool:
    """Whether something listens on the port, found from /proc (a test connection would be taken
    by ffmpeg for its one client)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
                return True
    return False
