"""Streams watched end to end on the real model: a video made at test time from LFW photos (each
person on screen for a few seconds, some twice, strangers between, a cut from a stranger to someone
enrolled in the same place), read as a file and served by an RTSP camera
(bench/rtsp_server.py): one event per appearance, names right, strangers unknown; the camera
dropping and coming back; the runner taking a stream made through the API, writing its counts, and
one runner per stream."""

import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from bench.synthetic_video import RtspServer, Scene, appearances, make_video, rtsp_server_missing
from events.models import Event
from events.subscriptions import create_webhook
from audit.models import AuditEvent
from inbox.models import UnknownFace
from records.usecases import analysis
from streams.models import Stream
from streams.runner import Runner, claim, write_counts
from streams.watching import Watch
from tests.api.conftest import api, api_key, enrol  # noqa: F401  (the API tests' fixtures)

ENROLLED = ["George_W_Bush", "Colin_Powell", "Tony_Blair"]
FPS = 5


@pytest.fixture(scope="module")
def single_face_photos(lfw_people, face_service):
    """identity -> its LFW photos in which the model finds exactly one face (a photo with a second
    face at its edge would be a second, true, appearance)."""
    chosen = {}

    def of(identity: str, count: int) -> list:
        if identity not in chosen:
            chosen[identity] = [path for path in lfw_people[identity][:8] if len(analysis.analyse_photo(path.read_bytes()).faces) == 1]
        assert len(chosen[identity]) >= count, identity
        return chosen[identity][:count]

    return of


@pytest.fixture(scope="module")
def strangers(lfw_people, single_face_photos):
    """Two people of LFW with one photo each, enrolled nowhere."""
    found = []
    for identity, photos in sorted(lfw_people.items()):
        if len(photos) == 1 and identity.startswith("A") and single_face_photos(identity, 1):
            found.append(identity)
        if len(found) == 2:
            return found
    raise AssertionError("no strangers")


@pytest.fixture
def gallery(enrol, single_face_photos):
    """Bush, Powell and Blair enrolled from their first single-face photo; the videos show others."""
    return {identity: enrol(identity.replace("_", " "), single_face_photos(identity, 1)[0].read_bytes()) for identity in ENROLLED}


@pytest.fixture
def subscribed(db, settings):
    """A webhook nobody listens at: events are written to the outbox (and stay pending)."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    create_webhook("http://127.0.0.1:9/hook", ["face.recognized", "face.unknown"])


@pytest.fixture
def scenes(single_face_photos, strangers):
    bush, powell, blair = (single_face_photos(identity, 3) for identity in ENROLLED)
    stranger_a, stranger_b = (single_face_photos(identity, 1)[0] for identity in strangers)
    return [
        Scene(3, bush[1], "George_W_Bush"),
        Scene(1),
        Scene(2.5, stranger_a, strangers[0]),
        Scene(3, powell[1], "Colin_Powell"),  # a cut from the stranger, in the same place
        Scene(1.5),
        Scene(3, bush[2], "George_W_Bush", x=40, y=20),  # Bush again, elsewhere
        Scene(2.5, stranger_b, strangers[1], x=360, y=90),
        Scene(3, blair[1], "Tony_Blair", x=360, y=90),  # a cut from the other stranger
        Scene(1),
    ]


def named(identity: str) -> str:
    return identity.replace("_", " ")


def expected(scenes: list[Scene]) -> list[str | None]:
    """The name each appearance should be reported with, in order; None: unknown."""
    return [named(seen.identity) if seen.identity in ENROLLED else None for seen in appearances(scenes)]


def reported_events() -> list[str | None]:
    return [event.data.get("name") if event.type == "face.recognized" else None for event in Event.objects.order_by("created_at")]


def test_a_video_file_gives_one_event_per_appearance_with_the_right_names(gallery, subscribed, scenes, tmp_path, transactional_db):
    video = make_video(scenes, tmp_path)
    watch = Watch("hall recording", f"file://{video}", FPS, gallery["George_W_Bush"].collection, keep_appearances=True)
    watch.run(threading.Event())

    assert [seen.name for seen in watch.appearances] == expected(scenes)
    assert reported_events() == expected(scenes)
    for event, person in zip(Event.objects.filter(type="face.recognized").order_by("created_at"), ["George_W_Bush", "Colin_Powell", "George_W_Bush", "Tony_Blair"]):
        assert event.data["record_id"] == str(gallery[person].pk)
        assert event.data["source"] == {"type": "stream", "name": "hall recording"}
    # Each reported appearance began within a frame or two of its scene.
    for seen, scene in zip(watch.appearances, appearances(scenes)):
        assert scene.start - 0.01 <= seen.first_at <= scene.start + 2 / FPS, (seen, scene)
    # One audit event per appearance, naming the stream; never one per frame.
    audited = AuditEvent.objects.filter(action="match")
    assert audited.count() == len(expected(scenes)) and all(e.detail["sighting"] == "stream: hall recording" for e in audited)
    assert watch.counts.frames >= 20 * FPS - 2 and watch.counts.events == len(expected(scenes))
    assert watch.ended


def test_each_appearance_of_nobody_enrolled_is_kept_once_for_review_where_the_collection_keeps_them(
    gallery, subscribed, scenes, strangers, tmp_path, transactional_db
):
    collection = gallery["George_W_Bush"].collection
    collection.keep_unknown_faces = True
    collection.save()
    watch = Watch("hall recording", f"file://{make_video(scenes, tmp_path)}", FPS, collection, keep_appearances=True)
    watch.run(threading.Event())

    unknown = [seen for seen in watch.appearances if seen.name is None]
    kept = list(UnknownFace.objects.order_by("seen_at"))
    assert len(unknown) == len(strangers) == len(kept)  # once per appearance, not per frame
    assert len({face.cluster_id for face in kept}) == 2  # two strangers: two suggested people
    for face in kept:
        assert default_storage.exists(face.crop.name) and face.collection == collection
        assert len(analysis.analyse_photo(default_storage.open(face.crop.name).read()).faces) == 1  # the face, cut out
    assert [e.detail["how"] for e in AuditEvent.objects.filter(action="keep_unknown")] == ["stream", "stream"]


@pytest.fixture
def rtsp(tmp_path):
    missing = rtsp_server_missing()
    if missing:
        pytest.fail(missing)
    started = []

    def serve(video) -> RtspServer:
        started.append(RtspServer(video).start())
        return started[-1]

    yield serve
    for server in started:
        server.stop()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.1)


@contextmanager
def watching(watch: Watch):
    """`watch` run in a thread of its own, as the runner runs it, for the block; stopped after."""
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def test_an_rtsp_camera_gives_one_event_per_appearance_and_is_opened_again_when_it_drops(
    gallery, subscribed, single_face_photos, strangers, rtsp, tmp_path, transactional_db, settings
):
    bush, powell = single_face_photos("George_W_Bush", 2)[1], single_face_photos("Colin_Powell", 2)[1]
    # First an empty scene: opening an RTSP stream, FFmpeg reads its first 2 s or so to learn what
    # it is, which the runner skips to the present.
    stranger = single_face_photos(strangers[0], 1)[0]
    scenes = [Scene(3), Scene(3, bush, "George_W_Bush"), Scene(1), Scene(3, stranger, strangers[0]), Scene(1), Scene(3, powell, "Colin_Powell"), Scene(1)]
    camera = rtsp(make_video(scenes, tmp_path))
    watch = Watch("front door", camera.url, FPS, gallery["George_W_Bush"].collection, keep_appearances=True)
    with watching(watch):
        wait_for(lambda: len(watch.appearances) == 3, 40, "the three appearances")
        assert [seen.name for seen in watch.appearances] == expected(scenes)
        assert watch.counts.connected and watch.counts.fps_achieved > FPS * 0.6
        # The camera drops (the video ended and the server is gone) ...
        camera.stop()
        wait_for(lambda: not watch.counts.connected, 20, "the drop to be seen")
        assert watch.counts.last_error
        # ... and comes back on the same port: opened again after the pause, the same people seen anew.
        camera.start()
        wait_for(lambda: len(watch.appearances) == 6, 60, "the appearances after the camera came back")
    assert watch.counts.reconnects >= 1
    assert reported_events() == expected(scenes) * 2


def test_the_runner_watches_a_stream_made_through_the_api_and_writes_its_counts(
    api, gallery, subscribed, scenes, tmp_path, transactional_db, settings
):
    settings.STREAM_FILE_ROOTS = [str(tmp_path)]
    video = make_video(scenes[:4], tmp_path)
    made = api.post("/streams", {"url": f"file://{video}", "name": "recording", "fps": FPS}, format="json").json()
    runner = Runner()
    runner.beat()  # takes it
    [held] = runner.watching.values()
    assert Stream.objects.get().running
    held.thread.join(timeout=120)
    runner.beat()  # the file ended: its counts written, the stream let go and not taken again
    assert runner.watching == {}
    [shown] = api.get("/streams").json()
    assert shown["id"] == made["id"] and not shown["running"] and shown["ended_at"]
    assert shown["frames"] >= 9.5 * FPS - 2 and shown["events"] == len(expected(scenes[:4])) == 3
    assert shown["faces"] == 3 and shown["last_error"] == ""
    assert reported_events() == expected(scenes[:4])
    assert claim(runner.name, 4) == []


def test_one_runner_per_stream_until_its_lease_runs_out(db, settings):
    from records.models import Collection

    stream = Stream.objects.create(name="door", url="rtsp://192.0.2.7/x", collection=Collection.default(), fps=5)
    [taken] = claim("host-a/1/1", 4)
    assert taken.pk == stream.pk and claim("host-b/2/2", 4) == []
    watch = Watch.__new__(Watch)  # only its counts are written
    from streams.watching import Counts

    watch.counts = Counts(frames=10)
    assert write_counts(stream.pk, "host-a/1/1", watch)  # the heartbeat renews the lease
    assert claim("host-b/2/2", 4) == []
    Stream.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # host-a died
    [taken] = claim("host-b/2/2", 4)
    assert Stream.objects.get().runner == "host-b/2/2"
    assert not write_counts(stream.pk, "host-a/1/1", watch)  # host-a, back, learns it lost it
    stream.delete()
    assert not write_counts(stream.pk, "host-b/2/2", watch)  # deleted: its runner stops


class MjpegCamera:
    """An HTTP camera sending MJPEG (multipart/x-mixed-replace, as many IP cameras do) of the
    video's frames at its frame rate, over and over, on a loopback port (the standard library's
    HTTP server); `stop()` ends it."""

    def __init__(self, video):
        import cv2
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        capture, self.frames = cv2.VideoCapture(str(video)), []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            self.frames.append(cv2.imencode(".jpg", bgr)[1].tobytes())
        capture.release()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not camera.stopped.is_set():
                        for jpeg in camera.frames:
                            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg + b"\r\n")
                            time.sleep(1 / 10)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.stopped = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


def test_an_http_mjpeg_camera_gives_one_event_per_appearance(gallery, subscribed, single_face_photos, tmp_path, transactional_db):
    bush, powell = single_face_photos("George_W_Bush", 2)[1], single_face_photos("Colin_Powell", 2)[1]
    scenes = [Scene(1), Scene(3, bush, "George_W_Bush"), Scene(2), Scene(3, powell, "Colin_Powell"), Scene(2)]
    camera = MjpegCamera(make_video(scenes, tmp_path))
    watch = Watch("garden", camera.url, FPS, gallery["George_W_Bush"].collection, keep_appearances=True)
    try:
        with watching(watch):
            wait_for(lambda: len(watch.appearances) >= 2, 40, "both appearances")
    finally:
        camera.stop()
    # The MJPEG stream starts wherever its loop is: the two people in the order they come.
    names = [seen.name for seen in watch.appearances][:2]
    assert sorted(names) == ["Colin Powell", "George W Bush"], names


def test_a_url_no_longer_allowed_is_not_opened_again(db, settings):
    from records.models import Collection
    from streams.registry import check_url

    settings.STREAM_ALLOWED_NETWORKS = []  # taken back after the stream was made
    watch = Watch("door", "rtsp://127.0.0.1:9/x", FPS, Collection.default(), check_url=check_url)
    with watching(watch):
        wait_for(lambda: watch.counts.last_error, 10, "the refusal")
    assert watch.counts.last_error.startswith("Refused:") and "not a public address" in watch.counts.last_error
    assert list(watch.connections) == []  # no connection was tried
