"""Production settings come from the environment: checked in fresh processes, since the settings
module reads the environment once, as a server would start."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

SHOW_SETTINGS = """
import json
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import storages
storage = storages["default"]
print(json.dumps({
    "storage": type(storage).__module__ + "." + type(storage).__name__,
    "storage_options": {
        name: {"connect_timeout": value.connect_timeout, "read_timeout": value.read_timeout, "retries": value.retries}
        if name == "client_config" else value
        for name, value in settings.STORAGES["default"].get("OPTIONS", {}).items()
    },
    "cache": type(caches["default"]).__name__,
    "secure": [settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "hsts": settings.SECURE_HSTS_SECONDS,
    "throttle_rates": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
}))
"""


def production_env(tmp_path, **extra) -> dict:
    """A production environment: DEBUG off, a real key, a host name, its own data folder."""
    # Without the test run's own variables (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    unset = ("DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="faces.example.com",
        HTTPS="true",
    )
    env.update(extra)
    return env


def manage(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def show_settings(env: dict) -> dict:
    done = manage(env, "shell", "-c", SHOW_SETTINGS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_it_refuses_to_start_with_debug_off_and_no_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]

    done = manage(env, "check")

    assert done.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in done.stderr


def test_https_deployments_get_secure_cookies_hsts_and_the_redirect(tmp_path):
    assert show_settings(production_env(tmp_path))["secure"] == [True, True, True]
    plain = show_settings(production_env(tmp_path, HTTPS="false"))
    assert plain["secure"] == [False, False, False] and plain["hsts"] == 0


def test_photos_go_to_an_s3_bucket_when_one_is_configured_and_the_cache_to_redis(tmp_path):
    env = production_env(
        tmp_path, AWS_STORAGE_BUCKET_NAME="faces", AWS_S3_ENDPOINT_URL="http://127.0.0.1:9", REDIS_URL="redis://127.0.0.1:6379/0"
    )

    shown = show_settings(env)

    # Constructed only: nothing is sent to the bucket or to Redis.
    assert shown["storage"] == "storages.backends.s3.S3Storage"
    assert shown["storage_options"]["bucket_name"] == "faces"
    assert shown["storage_options"]["default_acl"] is None  # the bucket's own: private
    # A hung store answers 503 within seconds (AWS_S3_TIMEOUT), not after gunicorn killed the worker.
    assert shown["storage_options"]["client_config"] == {
        "connect_timeout": 10.0, "read_timeout": 10.0, "retries": {"mode": "standard", "max_attempts": 3}}
    assert shown["cache"] == "RedisCache"


def test_by_default_photos_stay_in_the_media_folder_and_workers_share_a_file_cache(tmp_path):
    shown = show_settings(production_env(tmp_path, API_KEY_THROTTLE_RATE="5/minute"))

    assert shown["storage"] == "records.storage.PhotoStorage"
    assert shown["cache"] == "LockingFileBasedCache"
    assert shown["throttle_rates"]["api_key"] == "5/minute"


def dockerfile_env() -> dict:
    """The ENV the Dockerfile gives the container."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("ENV ")]
    return dict(pair.split("=", 1) for line in lines for pair in line.split())


def test_the_container_defaults_serve_others_and_pass_check_deploy(tmp_path):
    """The image listens on 0.0.0.0: scripts/serve must take it for serving others and run
    `check --deploy`, which its defaults (with the secret key scripts/serve writes) must pass."""
    env = production_env(tmp_path)
    del env["ALLOWED_HOSTS"], env["HTTPS"]  # the image's own: loopback host names, and HTTPS as it says
    env.update(dockerfile_env(), DATA_DIR=str(tmp_path / "data"))

    serves = subprocess.run([sys.executable, "-m", "facesite.deployment"], cwd=ROOT, env=env, capture_output=True, text=True)
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert dockerfile_env()["HOST"] == "0.0.0.0"
    assert serves.stdout.strip() == "others", serves.stderr
    assert done.returncode == 0, done.stdout + done.stderr


# --- scripts/serve: Django's deployment checks when it serves others --------------------------


def serve(env: dict, until: str, timeout: float = 300) -> tuple[int | None, str]:
    """Runs scripts/serve until it prints `until` (then stops it and everything it started) or
    exits; returns its exit status (None when stopped) and its output."""
    import os
    import signal
    import time

    from bench.serving import free_port

    env = {**env, "HOST": "127.0.0.1", "PORT": str(free_port()), "WEB_CONCURRENCY": "1"}
    process = subprocess.Popen(
        ["scripts/serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    output, deadline = [], time.monotonic() + timeout
    try:
        for line in process.stdout:
            output.append(line)
            if until in line or time.monotonic() > deadline:
                return None, "".join(output)
        return process.wait(), "".join(output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def test_serve_stops_on_deployment_warnings_when_it_serves_others(tmp_path):
    # A public host name over plain HTTP: no HSTS, no redirect, cookies not Secure.
    status, output = serve(production_env(tmp_path, HTTPS="false"), until="Serving on")

    assert status not in (0, None), output
    assert "security.W004" in output and "security.W008" in output
    assert "Serving on" not in output


def test_serve_starts_the_embedded_default_on_loopback_without_them(tmp_path):
    env = production_env(tmp_path, HTTPS="false", ALLOWED_HOSTS="localhost,127.0.0.1,[::1]")
    del env["SECRET_KEY"]  # scripts/serve writes one into DATA_DIR, as on a first start

    status, output = serve(env, until="Serving on")

    assert status is None, output  # it got to gunicorn
    assert "security.W" not in output


def test_serve_runs_the_job_worker_and_the_stream_runner_beside_gunicorn_and_a_stop_ends_all(tmp_path):
    import signal
    import time

    from bench.serving import free_port

    env = production_env(tmp_path, HTTPS="false", ALLOWED_HOSTS="localhost,127.0.0.1,[::1]", LOG_LEVEL="INFO")
    env.update(HOST="127.0.0.1", PORT=str(free_port()), WEB_CONCURRENCY="1")
    process = subprocess.Popen(
        ["scripts/serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    output, deadline = [], time.monotonic() + 300
    try:
        for line in process.stdout:
            output.append(line)
            text = "".join(output)
            if ("Starting worker" in text and "Ready:" in text and "Stream runner" in text) or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "Starting worker" in text and "Ready:" in text and "Stream runner" in text, text
        session = session_commands(process.pid)
        assert any("gunicorn" in command for command in session), session
        assert any("manage.py db_worker" in command for command in session), session
        assert any("manage.py run_streams" in command for command in session), session

        process.send_signal(signal.SIGTERM)  # to the script alone, as a supervisor stops it
        process.wait(60)

        assert session_commands(process.pid) == []  # gunicorn, the worker and the runner went with it
    finally:
        if process.poll() is None or session_commands(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def session_commands(session: int) -> list[str]:
    """Command lines of the live processes of a session."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # its session id; zombies have ended
            found.append(command)
    return found


@pytest.mark.db_independent
def test_compose_passes_the_proxy_settings_to_the_app():
    """Behind the proxy compose.yaml expects, the audit log, throttles and network-limited keys
    need the client's address: TRUSTED_PROXIES must reach the app, as FORWARDED_ALLOW_IPS does."""
    app = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["app"]["environment"]
    assert {"TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"} <= set(app)
