"""The services past the app the tests and benchmarks start for themselves, each on free loopback
ports with its data in a folder of its own, stopped after: the real Milvus server (the `milvus`
wheel's Milvus 2.3 standalone, its etcd embedded, its data on local disk) and an S3-compatible
store (moto's standalone server: a test double of S3's wire protocol, not S3).

    with MilvusStandalone(folder) as milvus:   # milvus.uri: MILVUS_URI
    with S3Server(folder) as s3:               # s3.endpoint_url: AWS_S3_ENDPOINT_URL
"""

import subprocess
import sys
import time
from pathlib import Path

from .serving import HOST, free_port

# Milvus's components, each listening on a port of its own (the wheel's config template names them).
MILVUS_PORTS = ("etcd_port", "root_coord_port", "proxy_port", "proxy_internal_port", "query_coord_port",
                "query_node_port", "index_coord_port", "index_node_port", "data_coord_port", "data_node_port")
STOP_WAIT = 5
MILVUS_COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


class MilvusStandalone:
    """The real Milvus server (`milvus` 2.3.5 from PyPI ships its standalone binary). Every
    component's address is 127.0.0.1 and its port a free one, so two servers (or two test runs)
    never share one."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.server = None
        self.uri = ""

    def start(self, timeout: float = 180) -> "MilvusStandalone":
        from milvus import MilvusServer, MilvusServerConfig

        config = MilvusServerConfig(**{port: free_port() for port in MILVUS_PORTS})
        # Where each component says it is reached: by default the machine's first unicast address.
        config.extra_configs.update({f"{component}.ip": HOST for component in MILVUS_COMPONENTS})
        self.server = MilvusServer(config, wait_for_started=False)
        self.server.set_base_dir(str(self.folder))
        self.server.start()
        self.uri = f"http://{HOST}:{self.server.listen_port}"
        wait_until_answers(self.uri, timeout, lambda: self.server.server_proc.poll() is None, self.log_tail)
        return self

    def log_tail(self) -> str:
        logs = self.folder / "logs"
        return "".join(path.read_text(errors="replace")[-2000:] for path in sorted(logs.glob("milvus-*.log")))

    @property
    def pid(self) -> int:
        return self.server.server_proc.pid

    def stop(self) -> None:
        if self.server and self.server.running:
            process = self.server.server_proc
            # SIGTERM, and SIGKILL after STOP_WAIT: its components stop one after another, and the
            # ones still running retry the ones gone for longer than a run should wait (its data
            # is thrown away).
            stop_process(process, wait=STOP_WAIT)
            self.server.server_proc = None
            self.server.stop()  # closes its log files

    def __enter__(self) -> "MilvusStandalone":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class MilvusLite:
    """`milvus-lite server` (requirements-dev.txt): milvus-lite's emulation of Milvus's API in
    Python, a development server."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.process: subprocess.Popen | None = None
        self.uri = ""

    def start(self, timeout: float = 120) -> "MilvusLite":
        port = free_port()
        self.uri = f"http://{HOST}:{port}"
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.folder / "data"),
                 "--host", HOST, "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until_answers(self.uri, timeout, lambda: self.process.poll() is None, self.log_tail)
        return self

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> "MilvusLite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until_answers(uri: str, timeout: float, running, log_tail) -> None:
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    while True:
        if not running():
            raise RuntimeError(f"the Milvus server at {uri} exited:\n{log_tail()}")
        try:
            MilvusClient(uri=uri, timeout=2).list_collections()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Milvus server did not answer at {uri} within {timeout} s:\n{log_tail()}")
            time.sleep(0.5)


def stop_process(process: subprocess.Popen | None, wait: float = 30) -> None:
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
