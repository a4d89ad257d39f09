# The service as `scripts/serve` runs it: set up .venv with the service's hash-pinned lock,
# requirements.txt, and nothing of requirements-dev.txt (at build time),
# then at start a secret key if none is given, migrate, collectstatic, check, and gunicorn with
# facesite/gunicorn.conf.py beside the background job worker (`manage.py db_worker`). Everything it keeps (SQLite if no DATABASE_URL, photos, index
# snapshots, the secret key) is under /data. compose.yaml runs it with PostgreSQL; docs/deploy.md.
# BASE: a Debian bookworm with Python 3.11.5 or later as python3, with venv (the lock asks for it:
# bookworm's own is 3.11.2). CI builds one from Debian's packages with mmdebstrap (scripts/image),
# since no image registry can be reached there.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# Listening on every address, it serves others: scripts/serve runs `check --deploy`, which these
# defaults pass (HTTPS on: redirect, HSTS, Secure cookies; /health stays plain HTTP for the
# health check, SECURE_REDIRECT_EXEMPT). Behind no TLS at all, set HTTPS=false and HOST=127.0.0.1.
ENV PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000 \
    HTTPS=true \
    WEB_CONCURRENCY=2

# The OpenMP runtime and GLib, which the faiss, dlib and OpenCV wheels load from the system
# (already in scripts/image's base, which saves the download).
RUN dpkg -s libgomp1 libglib2.0-0 >/dev/null 2>&1 \
 || (apt-get update \
     && apt-get install -y --no-install-recommends libgomp1 libglib2.0-0 \
     && rm -rf /var/lib/apt/lists/*)

WORKDIR /app
# The lock first, so this long layer is rebuilt only when it changes. scripts/setup installs it
# with --require-hashes: a file on the registry that differs from the reviewed one fails the build.
COPY requirements.txt ./
COPY scripts/setup scripts/
# WHEELS: a folder of the lock's files, mounted into the build (scripts/image downloads them on the
# host, whose pip reaches the registry), installed from offline; the hashes are checked the same.
ARG WHEELS=
RUN if [ -n "$WHEELS" ]; then export PIP_FIND_LINKS="$WHEELS" PIP_NO_INDEX=1; fi \
 && PIP_NO_CACHE_DIR=1 scripts/setup
COPY . .

# Not root: the server can write /data and nothing of its own code.
RUN useradd --system --uid 10001 --home-dir /data facesite \
 && mkdir -p /data && chown facesite /data
USER facesite
VOLUME /data
EXPOSE 8000
CMD ["scripts/serve"]
