"""gunicorn settings for `scripts/serve` and the Dockerfile; environment variables override."""

import os

from facesite.app_server import GUNICORN_TIMEOUT, WEB_CONCURRENCY

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = WEB_CONCURRENCY
# One thread per worker: inference is serialised per process anyway, and a second thread
# would only queue behind the model lock while holding a connection.
threads = 1
timeout = GUNICORN_TIMEOUT
# Each worker loads and warms its own model as it boots (facesite/wsgi.py), so no request
# pays for it, and a missing weight file stops the worker with a message naming it.
raw_env = ["LOAD_MODELS_AT_STARTUP=true"]
accesslog = "-"
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
# gunicorn 27's control socket has one default path per user, so two servers on a host (a second
# instance, a benchmark) would take each other's; nothing here uses it.
control_socket_disable = True


def post_worker_init(worker):
    """Once per server start, in its first worker (age 1) before it serves: purge the audit events
    and probe photos past their retention (manage.py purge_expired). The other workers, and
    workers restarted later, skip it; cron runs it daily (docs/deploy.md, Retention)."""
    if worker.age != 1:
        return
    from django.core.management import call_command

    try:
        call_command("purge_expired")
    # A purge that cannot run now (database busy or down) is run again by cron; it must not keep
    # the server from starting.
    except Exception:
        worker.log.exception("manage.py purge_expired failed at start-up")
    # What bench/serving.py waits for, besides every worker's "Ready:": until here this worker
    # may hold the database's write lock.
    worker.log.info("Start-up purge ended")
