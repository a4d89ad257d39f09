"""The service as production runs it, for the production benchmarks (bench/workers_agree.py,
crash_safety.py, load.py, bad_input_load.py, latency.py) and tests/production: gunicorn with
facesite/gunicorn.conf.py (N workers of WEB_THREADS threads, each loading and warming its model as it
boots) on a free loopback port, DEBUG off, its own DATA_DIR, and its own PostgreSQL database
(created here, dropped after) or SQLite file; plus an HTTP client of the API that knows which
worker answered each request.

Each request carries an `X-Request-Id`; gunicorn's access log (format below) names it with the
pid of the worker that served it, so a run can show that every worker was asked.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
# The client timeout: an answer slower than this is an error.
CLIENT_TIMEOUT = 30
ACCESS_LOG_FORMAT = 'access pid=%(p)s rid=%({x-request-id}i)s status=%(s)s time_us=%(D)s "%(r)s"'
ACCESS_LINE = re.compile(r"access pid=<?(\d+)>? rid=(\S+) status=(\d+)")
# What the first worker logs once its start-up purge has ended (facesite/gunicorn.conf.py).
PURGE_ENDED = "Start-up purge ended"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def faces_dir() -> Path:
    return Path(os.environ.get("FACES_DIR", BASE_DIR.parent / "shared" / "faces"))


def lfw_people() -> dict[str, list[Path]]:
    """LFW identity -> its photos (FACES_DIR/lfw/manifest.csv), identities sorted by name."""
    import csv

    lfw = faces_dir() / "lfw"
    people: dict[str, list[Path]] = {}
    with (lfw / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(lfw / row["path"])
    return dict(sorted(people.items()))


def database_url(settings_dict: dict) -> str:
    """A Django database's settings as the DATABASE_URL another process opens it with."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    credentials = settings_dict["USER"] + (f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else "")
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{settings_dict['NAME']}"


class Database:
    """A PostgreSQL database of its own (never `test` or `test_test`, which test runs use)."""

    def __init__(self, label: str):
        self.name = f"facesite_bench_{label}_{secrets.token_hex(3)}"
        self.url = f"{POSTGRES_URL}/{self.name}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True, connect_timeout=10) as connection:
            connection.execute(statement)

    def create(self) -> "Database":
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Server:
    """gunicorn in a session of its own, so the master and every worker can be killed at once.

    `database_url` None leaves DATABASE_URL as this process has it (bench/latency.py, whose server
    opens the database this process filled); `log` is DATA_DIR/gunicorn.log unless given."""

    def __init__(
        self, workers: int, data_dir: Path, database_url: str | None = None, media_root: Path | None = None,
        log: Path | None = None, **env,
    ):
        self.workers, self.data_dir, self.port = workers, Path(data_dir), free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log = Path(log) if log else self.data_dir / "gunicorn.log"
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            **({"DATABASE_URL": database_url} if database_url else {}),
            "HOST": HOST,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "LOG_LEVEL": "INFO",  # workers log "Ready:" when warm
            **({"MEDIA_ROOT": str(media_root)} if media_root else {}),
            **{key: str(value) for key, value in env.items()},
        }
        for variable in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # production settings, not a test run's
            self.env.pop(variable, None)
        self.env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        self.process: subprocess.Popen | None = None
        self._ready_before = self._purges_before = 0

    def manage(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, capture_output=True, text=True,
            timeout=600,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def migrate(self, static: bool = True) -> None:
        """As scripts/serve does before it starts gunicorn."""
        self.manage("migrate", "--no-input", "-v0")
        if static:
            self.manage("collectstatic", "--no-input", "-v0")

    def create_api_keys(self, names: list[str]) -> list[str]:
        """New API keys with every scope, one per name, in one process (each command would start
        Django again)."""
        code = (
            "import json; from access.models import ScopedAPIKey; "
            f"print(json.dumps([ScopedAPIKey.objects.create_key(name=n, scopes=['all'])[1] for n in {names!r}]))"
        )
        return json.loads(self.manage("shell", "-c", code).stdout.strip().splitlines()[-1])

    def start(self, timeout: float = 300) -> float:
        """Start, and wait until every worker is warm and the first has ended its start-up purge
        (facesite/gunicorn.conf.py: a test that pauses that worker while the purge holds the
        database's write lock would stall the other); returns the seconds that took."""
        started = self.launch()
        while self.ready_workers() < self.workers or self._count(PURGE_ENDED) <= self._purges_before:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"gunicorn workers not ready after {timeout} s; see {self.log}")
            time.sleep(0.1)
        return time.perf_counter() - started

    def launch(self) -> float:
        """Start gunicorn and return at once (its time.perf_counter()); `start` also waits for the workers."""
        started = time.perf_counter()
        self._ready_before = self._ready_count()
        self._purges_before = self._count(PURGE_ENDED)
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "facesite.wsgi", "-c", "facesite/gunicorn.conf.py",
             "--access-logformat", ACCESS_LOG_FORMAT,
             # gunicorn 27's control socket is one path per user: leave it to other servers here.
             "--no-control-socket"],
            cwd=BASE_DIR, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        return started

    def _count(self, line: str) -> int:
        return self.log.read_text(errors="replace").count(line) if self.log.exists() else 0

    def _ready_count(self) -> int:
        return self._count("Ready:")

    def ready_workers(self) -> int:
        """Workers of the last launch that have logged "Ready:" (warm)."""
        return self._ready_count() - self._ready_before

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            # Children of the master that run gunicorn: not the purge_expired it starts when ready
            # (gunicorn.conf.py), nor that process's zombie once it has ended.
            if self.process and parent == self.process.pid and self._runs_gunicorn(stat.parent):
                pids.append(int(stat.parent.name))
        return sorted(pids)

    @staticmethod
    def _runs_gunicorn(process: Path) -> bool:
        try:
            return b"gunicorn" in (process / "cmdline").read_bytes()
        except OSError:
            return False

    def worker_cpu_seconds(self) -> float:
        """User and system CPU time the workers have used so far, together."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / ticks

    def worker_memory(self) -> list[dict]:
        """Each worker's pid, resident memory (MB), and whether TensorFlow is mapped into it."""
        found = []
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            maps = Path(f"/proc/{pid}/maps").read_text()
            found.append({"pid": pid, "rss_mb": rss_kb / 1024, "tensorflow_loaded": "tensorflow" in maps})
        return found

    def each_worker_alone(self):
        """Yields each worker's pid in turn with every other worker paused (SIGSTOP), so requests
        sent meanwhile are answered by that worker: which idle worker accepts a connection is
        otherwise the kernel's choice, and one can take them all."""
        workers = self.worker_pids()
        for alone in workers:
            paused = [pid for pid in workers if pid != alone]
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            try:
                yield alone
            finally:
                for pid in paused:
                    os.kill(pid, signal.SIGCONT)

    def kill9(self) -> list[int]:
        """SIGKILL to the master and every worker at once (its process group); returns their pids."""
        pids = [self.process.pid, *self.worker_pids()]
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def logged_errors(self, limit: int = 8000) -> str:
        """What the server logged from its first traceback on (a 500's, say), at most `limit`
        characters: for the message of a test that saw an error answer."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        first = text.find("Traceback (most recent call last)")
        return text[first:first + limit] if first >= 0 else ""

    def served_by(self, request_ids=(), timeout: float = 10) -> dict[str, int]:
        """Request id -> pid of the worker that answered it, from the access log; waits for the
        lines of `request_ids` (a worker logs a request just after answering it)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            served = {match.group(2): int(match.group(1)) for match in ACCESS_LINE.finditer(text)}
            if all(request_id in served for request_id in request_ids) or time.monotonic() > deadline:
                return served
            time.sleep(0.05)


class JobWorker:
    """`manage.py db_worker` (records/jobs.py) as scripts/serve runs it beside gunicorn, with the
    environment of `server` (its DATA_DIR, database and media), in a session of its own."""

    def __init__(self, server: Server, log: Path | None = None, niceness: int = 0):
        self.server, self.niceness = server, niceness
        self.log = Path(log) if log else server.data_dir / "db_worker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "JobWorker":
        nice = ["nice", "-n", str(self.niceness)] if self.niceness else []
        self.process = subprocess.Popen(
            [*nice, sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2"],
            cwd=BASE_DIR, env=self.server.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the worker finishes its task, then exits
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


class Client:
    """The API over HTTP with one key. Every call returns (status, body, seconds, request id);
    status None is a failure to get any answer (refused connection, timeout)."""

    def __init__(self, base_url: str, key: str | None):
        self.base_url = base_url
        self.headers = {"X-API-Key": key} if key else {}

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs):
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        try:
            response = requests.request(
                method, self.base_url + path, timeout=CLIENT_TIMEOUT,
                headers={**self.headers, "X-Request-Id": request_id, **(headers or {})}, **kwargs,
            )
        except requests.RequestException as exc:
            return None, {"error": f"{type(exc).__name__}: {exc}"}, time.perf_counter() - started, request_id
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:200]}
        return response.status_code, body, time.perf_counter() - started, request_id

    def enrol(self, name: str, photo: bytes, **fields):
        return self.call("POST", "/records", files={"image": ("photo.jpg", photo)}, data={"name": name, **fields})

    def match(self, photo: bytes, top_k: int = 5):
        return self.call("POST", "/records/match", files={"image": ("photo.jpg", photo)}, data={"top_k": top_k})

    def delete(self, person_id: str):
        return self.call("DELETE", f"/records/{person_id}")


class Deployment:
    """A DATA_DIR and a database of its own, migrated, and a Server over them; everything removed
    on exit (the DATA_DIR is kept with --keep, for reading the gunicorn log)."""

    def __init__(self, label: str, workers: int, database: str = "postgres", keep: bool = False, **env):
        self.label, self.keep = label, keep
        if database not in ("postgres", "sqlite"):
            raise ValueError(f"database is postgres or sqlite, not {database!r}")
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"facesite-bench-{label}-"))
        self.database = Database(label) if database == "postgres" else None
        url = self.database.url if self.database else f"sqlite:///{self.data_dir / 'db.sqlite3'}"
        self.server = Server(workers, self.data_dir, url, **env)

    def __enter__(self) -> "Deployment":
        if self.database:
            self.database.create()
        self.server.migrate()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        if self.database:
            self.database.drop()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            print(f"kept {self.data_dir}")

    def clients(self, count: int, label: str = "bench") -> list[Client]:
        """`count` clients of the API, each with a key of its own (as separate clients would be)."""
        keys = self.server.create_api_keys([f"{label}-{number}" for number in range(count)])
        return [Client(self.server.base_url, key) for key in keys]


def percentiles(values) -> dict:
    import numpy as np

    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    array = np.asarray(values, dtype=float) * 1000
    return {f"p{q}_ms": round(float(np.percentile(array, q)), 1) for q in (50, 95, 99)}


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.end


class Tally:
    """Thread-safe counters and samples for a run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.samples: dict[str, list[float]] = {}
        self.notes: list[str] = []

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + by

    def sample(self, name: str, value: float) -> None:
        with self.lock:
            self.samples.setdefault(name, []).append(value)

    def note(self, text: str, keep: int = 20) -> None:
        with self.lock:
            if len(self.notes) < keep:
                self.notes.append(text)


def print_json(title: str, figures: dict) -> None:
    print(f"== {title}")
    print(json.dumps(figures, indent=2, default=str))
