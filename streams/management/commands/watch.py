"""`manage.py watch URL`: one stream or video file watched in the foreground, as the runner
watches a stream made through the API, each appearance reported once (events and audit), without
a Stream row. The operator's, at the host's shell: any URL or file its user can read."""

import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.conf import settings

from records.models import Collection
from streams import reader
from streams.watching import Watch


class Command(BaseCommand):
    help = "Watch a camera (rtsp://, http(s)://) or a video file until it ends or TERM/INT; one event per appearance of a face."

    def add_arguments(self, parser):
        parser.add_argument("url", help="rtsp://, rtsps://, http(s):// or a file (a path or file:///path).")
        parser.add_argument("--collection", default=Collection.DEFAULT, help="Whose people are recognised (default: default).")
        parser.add_argument("--fps", type=float, default=5.0, help="Frames analysed per second (default: 5).")
        parser.add_argument("--name", default="", help="The events' source name (default: watch URL).")

    def handle(self, *args, url, collection, fps, name, **options):
        if not settings.STREAM_FPS_MIN <= fps <= settings.STREAM_FPS_MAX:
            raise CommandError(f"--fps must be from {settings.STREAM_FPS_MIN} to {settings.STREAM_FPS_MAX}.")
        try:
            group = Collection.objects.get(name=collection)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection named '{collection}'.")
        if reader.is_file(url) and not Path(reader.local_path(url)).is_file():
            raise CommandError(f"No such file: {reader.local_path(url)}")
        watch = Watch(name or f"watch {url}"[:100], url, fps, group, keep_appearances=True)
        stop = threading.Event()
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, lambda *_: stop.set())
        watch.run(stop)
        for seen in watch.appearances:
            who = seen.name if seen.record_id else "unknown"
            self.stdout.write(f"{seen.first_at:8.1f} s  {who}")
        counts = watch.counts
        self.stdout.write(
            f"{counts.frames} frames analysed, {counts.faces} faces seen, {counts.events} appearances reported"
            + (f"; last error: {counts.last_error}" if counts.last_error else "")
        )
