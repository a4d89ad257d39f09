"""Video streams (streams/, issue 24): what one stream at 5 fps costs, how soon an appearance is
reported, and whether the names are right, on a synthetic video of LFW photos.

    python -m bench.streams                 # SQLite database of its own (default), or --database postgres

Not timed: a new DATA_DIR and database, migrated; PEOPLE people of LFW (with at least 3 photos, each
found as one face) enrolled from their first photo. The video (bench/synthetic_video.py): first 3 s
empty (opening an RTSP stream, FFmpeg reads its first seconds to learn it, which the runner skips),
then APPEARANCES scenes of 3 s each, separated by 1 s empty: each person once with another photo of
theirs, a third of them again later with a third photo and elsewhere on screen, and STRANGERS
people of LFW with one photo (enrolled nowhere) between them, some cut straight to an enrolled
person in the same place.

Timed (run it through /work/bin/quiet): the video served by the RTSP camera (bench/rtsp_server.py,
pinned to the second core) in real time, watched by streams.watching.Watch in this process pinned
to one core (os.sched_setaffinity: onnxruntime and FFmpeg's threads too) at 5 fps, as the runner
watches a stream:
- CPU per stream: this process's CPU time (user + system, resource.getrusage) over the wall time
  of the watch, in cores; and the frames analysed per second achieved.
- Appearance to event: for each appearance reported, from the moment its scene began on the camera
  (the camera's connection time + the scene's start in the video; the connection time is taken
  just before the RTSP handshake, so this over-counts by the handshake, a few ms) to the commit of
  its event (sightings.report returned), p50/p95/max.
- Names right per appearance: each scene with a person, reported once with the right name (an
  enrolled person) or as unknown (a stranger); extra appearances and missed ones are counted.
The same video is then read as a file (not timed: as fast as it goes) for the names again.
"""

import argparse
import os
import resource
import threading
import time
from pathlib import Path

from .serving import Deployment, print_json
from .synthetic_video import RtspServer, Scene, appearances, make_video

FPS = 5
SCENE_SECONDS = 3.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def choose_people(faces_dir: Path, people: int, strangers: int):
    """(enrolled: identity -> 3 single-face photos, strangers: [(identity, photo)]) from LFW."""
    import csv

    from records.usecases import analysis

    photos: dict[str, list[Path]] = {}
    with (faces_dir / "lfw" / "manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            photos.setdefault(row["identity"], []).append(faces_dir / "lfw" / row["path"])

    def single(paths):
        return [path for path in paths if len(analysis.analyse_photo(path.read_bytes()).faces) == 1]

    enrolled = {}
    for identity in sorted(name for name, paths in photos.items() if len(paths) >= 4):
        found = single(photos[identity][:6])
        if len(found) >= 3:
            enrolled[identity] = found[:3]
        if len(enrolled) == people:
            break
    unknown = []
    for identity in sorted((name for name, paths in photos.items() if len(paths) == 1), reverse=True):
        if single(photos[identity]):
            unknown.append((identity, photos[identity][0]))
        if len(unknown) == strangers:
            break
    return enrolled, unknown


def script(enrolled: dict, strangers: list) -> list[Scene]:
    scenes = [Scene(3)]
    people = list(enrolled.items())
    places = [(195, 55), (40, 20), (360, 90)]
    again = people[: len(people) // 3]
    order = [(identity, paths[1]) for identity, paths in people] + [(identity, paths[2]) for identity, paths in again]
    for number, (identity, photo) in enumerate(order):
        x, y = places[number % len(places)]
        if number < len(strangers):
            stranger, stranger_photo = strangers[number]
            scenes.append(Scene(SCENE_SECONDS, stranger_photo, stranger, x=x, y=y))
            if number % 2:  # a cut from the stranger to the person, in the same place
                scenes.append(Scene(SCENE_SECONDS, photo, identity, x=x, y=y))
                scenes.append(Scene(1))
                continue
            scenes.append(Scene(1))
        scenes.append(Scene(SCENE_SECONDS, photo, identity, x=x, y=y))
        scenes.append(Scene(1))
    return scenes


def names_right(scenes: list[Scene], reported: list, enrolled: dict) -> dict:
    expected = [(seen.identity.replace("_", " ") if seen.identity in enrolled else None) for seen in appearances(scenes)]
    got = [seen.name for seen in reported]
    right = sum(1 for want, have in zip(expected, got) if want == have) if len(got) == len(expected) else None
    return {
        "appearances": len(expected), "reported": len(got), "right": right,
        "enrolled_appearances": sum(1 for name in expected if name), "stranger_appearances": sum(1 for name in expected if not name),
        "wrong": [{"expected": want, "reported": have} for want, have in zip(expected, got) if want != have][:10],
    }


def run(database: str, people: int, strangers: int) -> dict:
    with Deployment("streams", workers=1, database=database) as deployment:
        os.environ.update(deployment.server.env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
        os.sched_setaffinity(0, {0})  # one core, before onnxruntime and FFmpeg start their threads
        import django

        django.setup()
        from django.conf import settings

        from records.models import Collection
        from records.usecases import enrolment
        from streams.watching import Watch

        enrolled, unknown = choose_people(Path(settings.FACES_DIR), people, strangers)
        for identity, paths in enrolled.items():
            enrolment.enrol(identity.replace("_", " "), paths[0].read_bytes())
        scenes = script(enrolled, unknown)
        video = make_video(scenes, deployment.data_dir / "video")
        collection = Collection.default()
        results = {"video_seconds": sum(scene.seconds for scene in scenes), "people_enrolled": len(enrolled),
                   "load_at_start": os.getloadavg()}

        camera = RtspServer(video).start()
        os.sched_setaffinity(camera.process.pid, {1})
        watch = Watch("bench camera", camera.url, FPS, collection, keep_appearances=True)
        stop = threading.Event()
        cpu_before, wall_before = cpu_seconds(), time.time()
        watching = threading.Thread(target=watch.run, args=(stop,))
        watching.start()
        # The camera ends with the video; the watch sees the drop, and is stopped.
        while camera.process.poll() is None and time.time() - wall_before < results["video_seconds"] + 30:
            if watch.counts.last_error:
                break
            time.sleep(0.2)
        stop.set()
        watching.join(timeout=60)
        cpu, wall = cpu_seconds() - cpu_before, time.time() - wall_before
        camera.stop()
        connected_at = watch.connections[0]
        latencies = []
        for seen, scene in zip(watch.appearances, appearances(scenes)):
            latencies.append(seen.reported_at - (connected_at + scene.start))
        import numpy as np

        results["rtsp_5fps_one_core"] = {
            "cpu_cores": round(cpu / wall, 3), "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
            "frames_analysed": watch.counts.frames, "frames_per_wall_second": round(watch.counts.frames / wall, 2),
            "fps_achieved_last_20_frames": watch.counts.fps_achieved,
            "appearance_to_event_s": {
                "p50": round(float(np.percentile(latencies, 50)), 2), "p95": round(float(np.percentile(latencies, 95)), 2),
                "max": round(max(latencies), 2), "each": [round(value, 2) for value in latencies],
            } if latencies else None,
            "names": names_right(scenes, list(watch.appearances), enrolled),
        }
        from_file = Watch("bench file", f"file://{video}", FPS, collection, keep_appearances=True)
        started = time.time()
        from_file.run(threading.Event())
        results["file_5fps"] = {
            "wall_seconds": round(time.time() - started, 1), "frames_analysed": from_file.counts.frames,
            "names": names_right(scenes, list(from_file.appearances), enrolled),
        }
        results["load_at_end"] = os.getloadavg()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite", choices=["postgres", "sqlite"])
    parser.add_argument("--people", type=int, default=12)
    parser.add_argument("--strangers", type=int, default=6)
    arguments = parser.parse_args()
    print_json("streams", run(arguments.database, arguments.people, arguments.strangers))


if __name__ == "__main__":
    main()
