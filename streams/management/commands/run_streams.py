"""The stream runner (streams/runner.py): started beside the job worker by scripts/serve."""

import signal

from django.core.management.base import BaseCommand

from streams.runner import Runner


class Command(BaseCommand):
    help = "Watch the video streams made with POST /streams (those no other runner holds), until TERM or INT."

    def add_arguments(self, parser):
        parser.add_argument("--max-streams", type=int, default=None, help="Streams this runner takes at most (default: STREAMS_PER_RUNNER).")

    def handle(self, *args, max_streams=None, **options):
        runner = Runner(limit=max_streams)
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, lambda *_: runner.stop())
        self.stdout.write(f"Stream runner {runner.name}: taking up to {runner.limit} streams")
        self.stdout.flush()  # a pipe's buffer would hold it until the runner stops
        runner.run()
        self.stdout.write("Stream runner stopped; its streams are free for another runner")
