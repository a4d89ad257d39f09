"""gunicorn settings for `scripts/serve` and the Dockerfile; environment variables override."""

from facesite.app_server import GUNICORN_MAX_REQUESTS, GUNICORN_TIMEOUT, HOST, PORT, WEB_CONCURRENCY, WEB_THREADS

bind = f"{HOST}:{PORT}"
workers = WEB_CONCURRENCY
# Threads, so a request waiting for its key's slot (access/throttling.py) or for the model
# lock (inference is serialised per process) holds a thread, not the whole worker.
worker_class = "gthread"
threads = WEB_THREADS
# A worker accepts a connection only when it has a thread free for it: the others stay in the
# listening socket's backlog for a worker that has (gthread would otherwise accept up to 1,000 and
# queue them inside one busy worker while another is idle). No keep-alive, as the sync worker had:
# a kept-alive connection would count against those.
worker_connections = WEB_THREADS
keepalive = 0
timeout = GUNICORN_TIMEOUT
# Each worker loads and warms its own model as it boots (facesite/wsgi.py), so no request
# pays for it, and a missing weight file stops the worker with a message naming it.
raw_env = ["LOAD_MODELS_AT_STARTUP=true"]
accesslog = "-"
max_requests = GUNICORN_MAX_REQUESTS
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
