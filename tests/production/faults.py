"""What the fault tests (test_faults.py) use: a private PostgreSQL cluster
that can be stopped and started, a small filesystem to fill, a network to a server that can be
cut and restored, and clients that keep the service
busy and sort every answer by the phase it came in."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from bench.serving import HOST, free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A PostgreSQL cluster of its own on a free loopback port, made with the machine's server
    binaries (initdb, pg_ctl), run as the `postgres` user when this runs as root (initdb refuses
    root). `stop()` is an immediate shutdown (a crash, as far as the clients can tell)."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="facesite-pg-"))
        self.port = free_port()
        self.url = f"postgres://postgres@{HOST}:{self.port}/facesite"
        self._as = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def create(self) -> "PrivatePostgres":
        self._run(str(PG_BIN / "initdb"), "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale", "C")
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "postgres", "facesite")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.folder}"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-o", options,
                  "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def mount_tmpfs(folder: Path, size: str) -> bool:
    """A tmpfs of `size` at `folder`; False where mounting is not allowed (not root, no privilege)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file at `folder` until its filesystem has no room left, to the last block; returns it."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size >= 512:
            try:
                os.write(descriptor, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(descriptor)
    return filler


class CuttableLink:
    """A TCP link on a free loopback port to the server at `target_url`, which the test can cut
    (every connection closed, new ones refused) and restore on the same port: the server keeps its
    state while the app loses it, as when the network to S3 fails. (moto's S3 server keeps its
    buckets in memory: stopping it would lose them, which no real outage of S3 does.)"""

    def __init__(self, target_url: str):
        host, port = target_url.rsplit("/", 1)[-1].rsplit(":", 1)
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> "CuttableLink":
        self._listener = socket.create_server((HOST, self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        with self._lock:
            ends, self._open = [listener, *self._open] if listener else list(self._open), set()
        for end in ends:
            _close(end)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                far = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(near)
                continue
            with self._lock:
                self._open |= {near, far}
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._carry, args=(source, sink), daemon=True).start()

    def _carry(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source)
            _close(sink)


def _close(end: socket.socket) -> None:
    try:
        end.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv() on it
    except OSError:
        pass
    end.close()


class Load:
    """Threads that enrol people and match photos without pause, every answer counted under the
    phase it was given in (`phase` is set by the test: before, down, after)."""

    def __init__(self, base_url: str, keys: list[str], photos: list[tuple[str, bytes]]):
        """One thread per key (a key may run one photo-analysing request at a time)."""
        self.base_url, self.photos = base_url, photos
        self.phase = "before"
        self.answers: Counter = Counter()  # (phase, what, status)
        self.bad: list[str] = []  # anything that is neither done nor a proper 503, with why
        self.acknowledged: dict[str, str] = {}  # person id -> name, for every 201
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.next = 0
        self.threads = [threading.Thread(target=self._run, args=(key,), daemon=True) for key in keys]

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _photo(self) -> tuple[str, bytes]:
        with self.lock:
            self.next += 1
            return self.photos[self.next % len(self.photos)]

    def _run(self, key: str) -> None:
        session = requests.Session()
        session.headers["X-API-Key"] = key
        while not self.stopping.is_set():
            name, photo = self._photo()
            self._ask(session, "enrol", "POST", "/records", files={"image": ("p.jpg", photo)}, data={"name": name})
            self._ask(session, "match", "POST", "/records/match", files={"image": ("p.jpg", photo)})

    def _ask(self, session, what: str, method: str, path: str, **kwargs) -> None:
        phase = self.phase
        try:
            response = session.request(method, self.base_url + path, timeout=60, **kwargs)
        except requests.RequestException as error:
            self._count(phase, what, None, f"{what}: no answer: {error!r}")
            time.sleep(0.2)
            return
        status = response.status_code
        problem = None
        if status == 503:
            body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
            if not response.headers.get("Retry-After") or not body.get("detail") or not body.get("unavailable"):
                problem = f"{what}: 503 without Retry-After or detail: {response.headers} {response.text[:300]}"
            time.sleep(0.2)  # as a client told to retry would, a little
        elif status not in (200, 201):
            problem = f"{what}: {status} {response.text[:300]}"
        elif what == "enrol":
            record = response.json()["record"]
            with self.lock:
                self.acknowledged[record["id"]] = record["name"]
        self._count(phase, what, status, problem)

    def _count(self, phase, what, status, problem) -> None:
        with self.lock:
            self.answers[(phase, what, status)] += 1
            if problem:
                self.bad.append(f"{phase}: {problem}")

    def count(self, phase: str, status=None) -> int:
        return sum(n for (p, _, s), n in self.answers.items() if p == phase and (status is None or s == status))

    def figures(self) -> dict:
        return {f"{p}/{w}/{s}": n for (p, w, s), n in sorted(self.answers.items(), key=str)}


def wait_for(condition, timeout: float, step: float = 0.5) -> float:
    """Seconds until `condition()` held; raises after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def health(base_url: str, key: str | None = None) -> tuple[int | None, dict]:
    try:
        response = requests.get(base_url + "/health", timeout=10, headers={"X-API-Key": key} if key else {})
    except requests.RequestException:
        return None, {}
    return response.status_code, response.json()


def restart_milvus_lite(server) -> None:
    """Start a stopped bench.services.MilvusLite again on its port, over the same data."""
    import sys

    from bench.services import wait_until_answers

    port = server.uri.rsplit(":", 1)[1]
    server.launch(sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(server.folder / "data"),
                  "--host", HOST, "--port", port)
    wait_until_answers(server.uri, 120, server.running, server.log_tail)
