"""How the app server runs each host's requests, read once from the environment: gunicorn's
config (facesite/gunicorn.conf.py) and the settings that must agree with it (facesite/settings.py)
both take these. No Django here: gunicorn's master reads this module before any worker starts."""

import os

# Worker processes per host, one request at a time each (gunicorn's `workers`).
WEB_CONCURRENCY = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Seconds a request may run before gunicorn kills its worker (gunicorn's `timeout`).
GUNICORN_TIMEOUT = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
