"""How the app server runs each host's requests, read once from the environment: gunicorn's
config (facesite/gunicorn.conf.py) and the settings that must agree with it (facesite/settings.py)
both take these. No Django here: gunicorn's master reads this module before any worker starts."""

import os

# The address gunicorn listens on: loopback unless told (the container listens on every address).
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
# Worker processes per host (gunicorn's `workers`). Each runs one inference at a time (the model
# lock in recognition/service.py), so about one per core.
WEB_CONCURRENCY = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads per worker (gunicorn's gthread `threads`): a request waiting in its key's line
# (access/throttling.py) or for the model lock holds a thread, not the whole process.
WEB_THREADS = int(os.environ.get("WEB_THREADS", "4"))
# Seconds a worker may stay unresponsive before gunicorn kills it (gunicorn's `timeout`). With
# threads it no longer bounds one request: each dependency has a timeout of its own.
GUNICORN_TIMEOUT = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Requests after which a worker is replaced by a fresh one (gunicorn's `max_requests`); 0: never.
GUNICORN_MAX_REQUESTS = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
