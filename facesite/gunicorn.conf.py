"""gunicorn settings for `scripts/serve` and the Dockerfile; environment variables override."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# One thread per worker: inference is serialised per process anyway, and a second thread
# would only queue behind the model lock while holding a connection.
threads = 1
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Each worker loads and warms its own model as it boots (facesite/wsgi.py), so no request
# pays for it, and a missing weight file stops the worker with a message naming it.
raw_env = ["LOAD_MODELS_AT_STARTUP=true"]
accesslog = "-"
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
# gunicorn 27's control socket has one default path per user, so two servers on a host (a second
# instance, a benchmark) would take each other's; nothing here uses it.
control_socket_disable = True


def when_ready(server):
    """Once per server start, not once per worker: purge the audit events and probe photos past
    their retention (manage.py purge_expired), in a process of its own so no worker waits for it."""
    import subprocess
    import sys
    from pathlib import Path

    manage = Path(__file__).resolve().parent.parent / "manage.py"
    server.log.info("Purging expired audit events and probe photos (manage.py purge_expired)")
    subprocess.Popen([sys.executable, str(manage), "purge_expired"])
