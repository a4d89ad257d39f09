"""Two app hosts, as two machines would run them, against one PostgreSQL, one real Milvus server,
one S3-compatible store and one Redis: each host its own gunicorn workers, job worker, DATA_DIR
(index snapshots, file cache) and nothing else of its own. tests/production/test_two_hosts.py
proves they agree; this script measures match throughput through one host and through two.

    python -m bench.two_hosts                          # 20 s per layout, 2 workers per host
    python -m bench.two_hosts --duration 60 --seed 40

Started here: a PostgreSQL database of its own, the real Milvus 2.3 standalone server and moto's
S3 server (bench/services.py; moto is a test double of S3's wire protocol, not S3: its figures say
so), Redis db --redis-db at 127.0.0.1:6379. Both layouts send the same closed-loop matches of LFW
photos (bench/load.py's traffic, match share 1) from --clients threads: first all to host A alone,
then half to A and half to B. On one 2-core machine the two hosts share the same cores, so the
second figure shows what a second host costs there, not what a second machine adds.
"""

import argparse
import shutil
import tempfile
import uuid
from pathlib import Path

from .serving import Client, Deadline, JobWorker, Server, Tally, print_json


class AppHost:
    """One app host: gunicorn (`workers` workers) and `manage.py db_worker`, with a DATA_DIR and
    media folder of its own, over the shared services named in `env`."""

    def __init__(self, label: str, folder: Path, workers: int, database_url: str, **env):
        self.label = label
        data_dir = Path(folder) / label
        data_dir.mkdir(parents=True)
        self.server = Server(workers, data_dir, database_url, data_dir / "media", **env)
        self.jobs = JobWorker(self.server)

    def start(self) -> float:
        self.jobs.start()
        return self.server.start()

    def kill9(self) -> None:
        """SIGKILL to every process of the host at once, as a machine that loses power."""
        self.server.kill9()
        self.jobs.kill9()

    def stop(self) -> None:
        self.server.stop()
        self.jobs.stop()

    def client(self, key: str) -> Client:
        return Client(self.server.base_url, key)


def shared_services(folder: Path, redis_db: int) -> tuple[list, dict]:
    """The real Milvus server and an S3 server started (stop them after), and the environment that
    points an app host at them and at Redis."""
    from .services import MilvusStandalone, S3Server

    milvus = MilvusStandalone(folder / "milvus").start()
    s3 = S3Server(folder / "s3").start()
    env = {
        "VECTOR_BACKEND": "milvus", "MILVUS_URI": milvus.uri,
        **s3.new_bucket(f"bench-{uuid.uuid4().hex[:12]}"),
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}", "CACHE_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
    }
    return [milvus, s3], env


def main():
    from .load import photo_sets, run_threads, seed_gallery, summary, traffic
    from .serving import Database

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=40)
    parser.add_argument("--redis-db", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="facesite-two-hosts-"))
    database = Database("two_hosts").create()
    services, env = shared_services(folder, args.redis_db)
    hosts = [AppHost(label, folder, args.workers, database.url, **env) for label in ("a", "b")]
    try:
        hosts[0].server.migrate()
        for host in hosts:
            host.start()
        keys = hosts[0].server.create_api_keys([f"bench-{n}" for n in range(args.clients)])
        gallery, probes, _ = photo_sets(args.seed)
        ids = seed_gallery([hosts[0].client(key) for key in keys], gallery)
        figures = {"faces": len(ids), "workers_per_host": args.workers, "clients": args.clients,
                   "storage": "moto_server (a test double of S3's wire protocol)", "vector_store": "Milvus 2.3.5 standalone"}
        for layout, used in (("one_host", hosts[:1]), ("two_hosts", hosts)):
            clients = [used[n % len(used)].client(key) for n, key in enumerate(keys)]
            tally = Tally()
            threads = traffic(clients, probes, iter(()), ids, tally, Deadline(args.duration), iter(range(10**6)), 1.0)
            figures[layout] = summary(tally, run_threads(threads))
        print_json("two app hosts: matches", figures)
    finally:
        for host in hosts:
            host.stop()
        for service in services:
            service.stop()
        database.drop()
        shutil.rmtree(folder, ignore_errors=True)  # the hosts' DATA_DIRs and the services' data


if __name__ == "__main__":
    main()
