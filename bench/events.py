"""Event delivery: outbox to webhook receiver through the job worker (events/, issue 24).

    python -m bench.events                 # PostgreSQL database of its own (default), or --database sqlite

Not timed: a new DATA_DIR and database, migrated; a webhook to a receiver on a loopback port
(bench/receiver.py, allowed by WEBHOOK_ALLOWED_NETWORKS). Events are written by this process with
events.outbox.emit (a `record.created`-shaped event each, in a transaction of its own, as a use
case writes it; no photo is analysed: this measures the delivery, not recognition) and delivered
by one `manage.py db_worker` (bench.serving.JobWorker, polling every 0.2 s; scripts/serve runs
the library's default, 1 s).

1. latency: events written one every 50 ms (20/s); each event's time from its commit to its
   arrival at the receiver, p50/p99.
2. throughput: N events written at once; events delivered per second from the first write to the
   last arrival.
3. receiver down for 10 minutes, on a clock 60 times faster (every retry interval of the worker
   divided by 60: WEBHOOK_RETRY_BASE_SECONDS 5/60, ...): events written while nothing listens on
   the receiver's port, the receiver started 10 s (10 simulated minutes) later; how many arrive,
   how long after it came back (in simulated seconds too), and the attempts they took.
"""

import argparse
import os
import time
import uuid

from .receiver import Receiver
from .serving import Deployment, JobWorker, free_port, percentiles, print_json

CLOCK = 60  # the down-for-10-minutes run's clock speed-up


def emit_one(outbox, number: int) -> float:
    """Write one event (its own transaction); the time it committed."""
    from django.db import transaction

    with transaction.atomic():
        outbox.emit("record.created", {"record_id": str(uuid.uuid4()), "name": f"Person {number}", "collection": "default",
                                       "photo_id": str(uuid.uuid4()), "face_box": [10, 10, 80, 80],
                                       "source": {"type": "command", "name": "bench"}}, collection="default")
    return time.time()


def wait_for(receiver: Receiver, count: int, timeout: float) -> None:
    receiver.wait_for(count, timeout)


def run(events: int, database: str) -> dict:
    port = free_port()
    env = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}
    with Deployment("events", workers=1, database=database, **env) as deployment:
        os.environ.update(deployment.server.env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
        import django

        django.setup()
        from events import outbox
        from events.models import Attempt, Delivery
        from events.subscriptions import create_webhook

        results = {}
        with Receiver(port=port) as receiver:
            create_webhook(receiver.url, ["record.created"])
            worker = JobWorker(deployment.server).start()
            try:
                time.sleep(3)  # the worker's start
                sent = []
                for number in range(200):
                    sent.append(emit_one(outbox, number))
                    time.sleep(0.05)
                wait_for(receiver, 200, 60)
                arrived = {int(r.body.split(b'"name":"Person ')[1].split(b'"')[0]): r.at for r in receiver.received}
                latencies = [arrived[n] - sent[n] for n in range(200) if n in arrived]
                results["latency_20_per_s"] = {"events": 200, "delivered": len(arrived), **percentiles(latencies),
                                               "max_ms": round(max(latencies) * 1000, 1)}

                receiver.received.clear()
                started = time.time()
                for number in range(events):
                    emit_one(outbox, number)
                written = time.time() - started
                wait_for(receiver, events, 600)
                last = max(r.at for r in receiver.received)
                results["throughput_burst"] = {
                    "events": events, "delivered": len({r.headers["webhook-id"] for r in receiver.received}),
                    "write_s": round(written, 2), "first_write_to_last_arrival_s": round(last - started, 2),
                    "events_per_s": round(events / (last - started), 1),
                }
            finally:
                worker.stop()

        # 3. The receiver down for 10 (simulated) minutes.
        Delivery.objects.all().delete()
        scaled = {"WEBHOOK_RETRY_BASE_SECONDS": 5 / CLOCK, "WEBHOOK_RETRY_MAX_INTERVAL": 7200 / CLOCK,
                  "WEBHOOK_RETRY_SECONDS": 86400 // CLOCK, "WEBHOOK_TIMEOUT": 5 / CLOCK * 10}
        deployment.server.env.update({key: str(value) for key, value in scaled.items()})
        down_port = free_port()
        from events.models import Webhook

        Webhook.objects.all().delete()
        create_webhook(f"http://127.0.0.1:{down_port}/hook", ["record.created"])
        worker = JobWorker(deployment.server).start()
        try:
            time.sleep(3)
            down_events = 100
            for number in range(down_events):
                emit_one(outbox, number)
            time.sleep(600 / CLOCK)
            with Receiver(port=down_port) as back:
                came_back = time.time()
                wait_for(back, down_events, 300)
                last = max((r.at for r in back.received), default=came_back)
                delivered = len({r.headers["webhook-id"] for r in back.received})
            attempts = list(Delivery.objects.values_list("attempts", flat=True))
            results["receiver_down_10_simulated_min"] = {
                "events": down_events, "delivered": delivered,
                "all_delivered_after_back_s_real": round(last - came_back, 2),
                "all_delivered_after_back_s_simulated": round((last - came_back) * CLOCK, 1),
                "attempts_per_event_max": max(attempts), "attempts_per_event_min": min(attempts),
                "failed_attempts_logged": Attempt.objects.exclude(status_code=200).count(),
            }
        finally:
            worker.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events in the throughput burst")
    parser.add_argument("--database", default="postgres", choices=["postgres", "sqlite"])
    arguments = parser.parse_args()
    print_json("events", run(arguments.events, arguments.database))


if __name__ == "__main__":
    main()
