"""The stream runner (`manage.py run_streams`, started beside the job worker by scripts/serve):
it takes streams no runner holds, watches each in a thread of its own (streams/watching.py), and
writes each one's counts to its row every STREAM_HEARTBEAT_SECONDS, which renews its lease.

One runner per stream, across processes and hosts: a runner holds a stream while its lease
(STREAM_LEASE_SECONDS) runs; a runner that dies (killed, host lost, database away for longer)
stops renewing it, and another takes it once it has run out. A runner that finds it no longer
holds a stream (deleted, or taken after its lease ran out) stops watching it. Several runners
share the streams: each takes at most STREAMS_PER_RUNNER.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from jobs.worker import this_worker

from .models import Stream, lease_until
from .registry import check_url
from .watching import Watch

logger = logging.getLogger(__name__)


@dataclass
class Watching:
    stream_id: str
    watch: Watch
    stop: threading.Event
    thread: threading.Thread


def claim(runner: str, limit: int) -> list[Stream]:
    """Up to `limit` streams no runner holds, now held by `runner`."""
    claimed = []
    for candidate in Stream.objects.free()[: limit * 2]:
        if len(claimed) >= limit:
            break
        with transaction.atomic():
            # Two runners (on this host or another) may see the same free stream at once. The row
            # lock makes the second wait for the first's commit; the conditional update (on the
            # runner and lease it saw) then changes nothing for it, which also holds on SQLite,
            # where select_for_update is a no-op and the database's write lock is the only one.
            stream = Stream.objects.select_for_update().filter(pk=candidate.pk).free().first()
            if stream is None:
                continue
            taken = Stream.objects.filter(pk=stream.pk, runner=stream.runner, lease_expires_at=stream.lease_expires_at).update(
                runner=runner, lease_expires_at=lease_until(settings.STREAM_LEASE_SECONDS), started_at=timezone.now(),
                connected=False,
            )
        if taken:
            stream.runner = runner
            claimed.append(stream)
    return claimed


def write_counts(stream_id, runner: str, watch: Watch) -> bool:
    """The watch's counts on the stream's row, its lease renewed; whether `runner` still holds it."""
    counts = watch.counts
    return bool(Stream.objects.filter(pk=stream_id, runner=runner).update(
        lease_expires_at=lease_until(settings.STREAM_LEASE_SECONDS),
        connected=counts.connected, frames=counts.frames, fps_achieved=counts.fps_achieved, faces=counts.faces,
        events=counts.events, reconnects=counts.reconnects, last_error=counts.last_error,
        last_error_at=_when(counts.last_error_at), last_frame_at=_when(counts.last_frame_at),
    ))


def release(stream_id, runner: str, ended: bool) -> None:
    """Let go of a stream; `ended`: a file read to its end, not to be watched again."""
    Stream.objects.filter(pk=stream_id, runner=runner).update(
        runner="", lease_expires_at=None, connected=False, ended_at=timezone.now() if ended else None,
    )


def _when(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=dt_timezone.utc)


class Runner:
    def __init__(self, limit: int | None = None):
        self.name = this_worker()
        self.limit = limit or settings.STREAMS_PER_RUNNER
        self.watching: dict[str, Watching] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        """Until stop() (a TERM or INT: the command's)."""
        try:
            while not self.stopping.is_set():
                self.beat()
                self.stopping.wait(settings.STREAM_HEARTBEAT_SECONDS)
        finally:
            for each in list(self.watching.values()):
                each.stop.set()
            for each in list(self.watching.values()):
                each.thread.join(timeout=30)
                self._let_go(each)

    def stop(self) -> None:
        self.stopping.set()

    def beat(self) -> None:
        """Write every watch's counts (renewing its lease), let go of the ended ones and of those
        no longer held, and take free streams up to the limit."""
        close_old_connections()  # a connection the database dropped is opened again, not reused
        for each in list(self.watching.values()):
            if not each.thread.is_alive():
                self._let_go(each)
            elif not write_counts(each.stream_id, self.name, each.watch):
                logger.info("Stream %s is no longer this runner's (deleted, or taken): stopping", each.stream_id)
                each.stop.set()
                del self.watching[each.stream_id]
        for stream in claim(self.name, self.limit - len(self.watching)):
            self._start(stream)

    def _start(self, stream: Stream) -> None:
        watch = Watch(stream.name, stream.url, stream.fps, stream.collection, check_url=check_url)
        stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(watch, stop), name=f"stream-{stream.name}", daemon=True)
        self.watching[str(stream.pk)] = Watching(str(stream.pk), watch, stop, thread)
        thread.start()
        logger.info("Watching stream %s (%s)", stream.name, stream.shown_url)

    @staticmethod
    def _watch(watch: Watch, stop: threading.Event) -> None:
        try:
            watch.run(stop)
        except Exception as error:  # kept on the row for GET /streams; the stream is taken again
            logger.exception("Stream %s failed", watch.source.name)
            watch.counts.failed(f"{type(error).__name__}: {error}")
        finally:
            close_old_connections()

    def _let_go(self, each: Watching) -> None:
        """A thread that ended: its last counts written, the stream released (ended if a file
        that was read to its end, else free for the next beat to take again)."""
        self.watching.pop(each.stream_id, None)
        if write_counts(each.stream_id, self.name, each.watch):
            release(each.stream_id, self.name, ended=each.watch.ended)
