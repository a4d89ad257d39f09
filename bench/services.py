"""The services past the app the tests and benchmarks start for themselves, each on free loopback
ports with its data in a folder of its own, stopped after: the real Milvus server (the `milvus`
wheel's Milvus 2.3 standalone, its etcd embedded, its data on local disk) and an S3-compatible
store (moto's standalone server: a test double of S3's wire protocol, not S3).

    with MilvusStandalone(folder) as milvus:   # milvus.uri: MILVUS_URI
    with S3Server(folder) as s3:               # s3.endpoint_url: AWS_S3_ENDPOINT_URL
"""

import os
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


class LocalServer:
    """A server process of the run's own, in a session of its own, its output in `folder`'s log."""

    log_name = "server.log"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.process: subprocess.Popen | None = None

    def launch(self, *command: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / self.log_name).open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        return (self.folder / self.log_name).read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)

    def detach(self) -> None:
        """Leave the server running once this process ends (a benchmark's later steps use it, and
        stop it by its pid)."""
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class MilvusStandalone(LocalServer):
    """The real Milvus server (`milvus` 2.3.5 from PyPI ships its standalone binary). Every
    component's address is 127.0.0.1 and its port a free one, so two servers (or two test runs)
    never share one."""

    uri = ""

    def start(self, timeout: float = 180) -> "MilvusStandalone":
        from milvus import MilvusServer, MilvusServerConfig

        class Config(MilvusServerConfig):
            def update_extra_configs(self, content: str) -> str:
                # The embedded etcd's own configuration, a key the wheel's template does not have.
                return super().update_extra_configs(content).replace(
                    "\netcd:\n", f"\netcd:\n  config:\n    path: {etcd_config}\n", 1)

        ports = {port: free_port() for port in MILVUS_PORTS}
        config = Config(**ports)
        # Where each component says it is reached: by default the machine's first unicast address.
        config.extra_configs.update({f"{component}.ip": HOST for component in MILVUS_COMPONENTS})
        # The embedded etcd listens on 127.0.0.1:2379 and :2380 unless told: a second server
        # (another test run) would fail to start.
        self.folder.mkdir(parents=True, exist_ok=True)
        etcd_config = self.folder / "etcd.yaml"
        client, peer = f"http://{HOST}:{ports['etcd_port']}", f"http://{HOST}:{free_port()}"
        etcd_config.write_text(
            f"listen-client-urls: {client}\nadvertise-client-urls: {client}\nlisten-peer-urls: {peer}\n"
            f"initial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
        )
        self.server = MilvusServer(config, wait_for_started=False)
        self.server.set_base_dir(str(self.folder))
        # Milvus reads settings from environment variables too, and the app's LOG_LEVEL (Python's
        # level names: WARNING) is not a level it knows: it would exit at once.
        log_level = os.environ.pop("LOG_LEVEL", None)
        try:
            self.server.start()  # passes this process's environment on
        finally:
            if log_level is not None:
                os.environ["LOG_LEVEL"] = log_level
        self.process = self.server.server_proc
        self.uri = f"http://{HOST}:{self.server.listen_port}"
        wait_until_answers(self.uri, timeout, self.running, self.log_tail)
        return self

    def log_tail(self) -> str:
        logs = self.folder / "logs"
        return "".join(path.read_text(errors="replace")[-2000:] for path in sorted(logs.glob("milvus-*.log")))

    def stop(self) -> None:
        if self.process:
            # SIGTERM, and SIGKILL after STOP_WAIT: its components stop one after another, and the
            # ones still running retry the ones gone for longer than a run should wait (its data
            # is thrown away).
            stop_process(self.process, wait=STOP_WAIT)
            self.detach()

    def detach(self) -> None:
        self.server.server_proc = self.process = None  # the wheel's server stops its process when collected
        self.server.stop()  # closes its log files


class MilvusLite(LocalServer):
    """`milvus-lite server` (requirements-dev.txt): milvus-lite's emulation of Milvus's API in
    Python, a development server."""

    uri = ""

    def start(self, timeout: float = 120) -> "MilvusLite":
        port = free_port()
        self.uri = f"http://{HOST}:{port}"
        self.launch(sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.folder / "data"),
                    "--host", HOST, "--port", str(port))
        wait_until_answers(self.uri, timeout, self.running, self.log_tail)
        return self


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


class S3Server(LocalServer):
    """moto's standalone server (`moto[server]`, requirements-dev.txt): S3's wire protocol as boto3
    speaks it, kept in memory. A test double of S3, not S3: every figure it produces says so."""

    REGION = "us-east-1"
    # moto accepts any credentials; boto3 only needs some.
    CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    endpoint_url = ""

    def start(self, timeout: float = 60) -> "S3Server":
        import requests

        port = free_port()
        self.endpoint_url = f"http://{HOST}:{port}"
        self.launch(sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port))
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise RuntimeError(f"moto_server exited:\n{self.log_tail()}")
            try:
                requests.get(self.endpoint_url, timeout=2)
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer at {self.endpoint_url} within {timeout} s")
                time.sleep(0.2)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self, name: str, versioned: bool = True) -> dict:
        """A bucket (versioning on, as an erasure must cope with), and the environment that points
        the app's storage at it (facesite/settings.py)."""
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return {"AWS_STORAGE_BUCKET_NAME": name, "AWS_S3_ENDPOINT_URL": self.endpoint_url,
                "AWS_S3_REGION_NAME": self.REGION, **self.CREDENTIALS}


# The Milvus servers a benchmark can start (--milvus), and how its figures name each.
MILVUS_SERVERS = {"lite": MilvusLite, "standalone": MilvusStandalone}
MILVUS_LABELS = {"lite": "Milvus Lite (development server)", "standalone": "Milvus 2.3.5 standalone"}
