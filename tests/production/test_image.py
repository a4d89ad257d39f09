"""The container image (Dockerfile, built by scripts/image) run with podman as docs/deploy.md says:
a data volume, the host's network, `create_api_key` through `podman exec`, a real photo enrolled
and matched, the person still there after a restart, the unprivileged user unable to write its
code, `check --deploy` clean with the production settings; then the same image on the machine's
PostgreSQL. Skipped where podman or the image is missing, unless REQUIRE_CONTAINER is set (.ci/run
builds the image and sets it)."""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from bench.serving import BASE_DIR, POSTGRES_URL, Database, free_port

from .faults import wait_for

IMAGE = os.environ.get("FACESITE_IMAGE", "localhost/facesite:latest")
ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(BASE_DIR / "scripts" / "containers.conf"))}
# docs/deploy.md, Settings: what production sets.
PRODUCTION = {"DEBUG": "false", "HTTPS": "true", "ALLOWED_HOSTS": "faces.example.com,127.0.0.1",
              "CSRF_TRUSTED_ORIGINS": "https://faces.example.com"}

pytestmark = pytest.mark.db_independent  # the image's own database, or the machine's PostgreSQL below


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def image():
    missing = None
    if shutil.which("podman") is None:
        missing = "podman is not installed (apt-get install podman runc)"
    elif podman("image", "exists", IMAGE, check=False).returncode != 0:
        missing = f"no image {IMAGE}: build it with scripts/image"
    if missing:
        if os.environ.get("REQUIRE_CONTAINER"):
            pytest.fail(missing)
        pytest.skip(missing)
    return IMAGE


class Container:
    """The image run detached on the host's network at a free port, /data a volume of its own; on
    loopback over plain HTTP unless told (HOST, HTTPS), as docs/deploy.md runs it for a first try."""

    def __init__(self, image: str, **env: str):
        self.name = f"facesite-test-{secrets.token_hex(4)}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        podman("volume", "create", self.name)
        options = [f"--env={key}={value}" for key, value in {"HOST": "127.0.0.1", "HTTPS": "false", "PORT": str(self.port),
                                                               "WEB_CONCURRENCY": "1", **env}.items()
                   if value is not None]  # None: the image's own
        podman("run", "--detach", "--name", self.name, "--network", "host", "--volume", f"{self.name}:/data",
               *options, image)

    def healthy(self, timeout: float = 300) -> None:
        def answers() -> bool:
            if podman("container", "inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() != "true":
                raise AssertionError(f"the container stopped:\n{self.logs()}")
            try:
                return requests.get(self.base_url + "/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(answers, timeout, step=1)
        except TimeoutError:
            raise AssertionError(f"/health did not answer within {timeout} s:\n{self.logs()}")

    def execute(self, *command: str, user: str | None = None, env: dict | None = None, check: bool = True):
        options = [f"--env={key}={value}" for key, value in (env or {}).items()] + (["--user", user] if user else [])
        return podman("exec", *options, self.name, *command, check=check)

    def manage(self, *args: str, **kwargs):
        return self.execute(".venv/bin/python", "manage.py", *args, **kwargs)

    def logs(self) -> str:
        return podman("logs", "--tail", "60", self.name, check=False).stdout[-6000:]

    def remove(self) -> None:
        podman("rm", "--force", "--time", "10", self.name, check=False)
        podman("volume", "rm", "--force", self.name, check=False)


def enrol_and_match(container: Container, lfw_people) -> tuple[str, str]:
    """A key made with podman exec, a real photo enrolled and another of the same man matched."""
    key = container.manage("create_api_key", "image-test", "--scopes", "all").stdout.strip().splitlines()[-1]
    session = requests.Session()
    session.headers["X-API-Key"] = key
    photos = lfw_people["Colin_Powell"]
    enrolled = session.post(container.base_url + "/records", files={"image": ("p.jpg", photos[0].read_bytes())},
                            data={"name": "Colin Powell"}, timeout=60)
    assert enrolled.status_code == 201, enrolled.text
    matched = session.post(container.base_url + "/records/match", files={"image": ("p.jpg", photos[1].read_bytes())},
                           timeout=60)
    assert matched.status_code == 200 and matched.json()["best_match"]["name"] == "Colin Powell", matched.text
    return key, enrolled.json()["record"]["id"]


@pytest.fixture
def container(image):
    started = []

    def start(**env) -> Container:
        started.append(Container(image, **env))
        return started[-1]

    yield start
    for each in started:
        each.remove()


def test_the_image_serves_keeps_its_data_and_cannot_write_its_code(container, lfw_people):
    app = container()
    app.healthy()
    key, person_id = enrol_and_match(app, lfw_people)

    podman("restart", "--time", "30", app.name)
    app.healthy()
    again = requests.get(f"{app.base_url}/records/{person_id}", headers={"X-API-Key": key}, timeout=30)
    assert again.status_code == 200 and again.json()["name"] == "Colin Powell"

    # Not root, and its code and its packages are not its to change; /data is.
    assert app.execute("id", "-u").stdout.strip() != "0"
    for path in ("/app/manage.py", "/app/records/models.py", "/app/.venv/bin/python"):
        assert app.execute("sh", "-c", f"test -w {path}", check=False).returncode != 0, path
    assert app.execute("sh", "-c", "touch /app/new && echo written", check=False).returncode != 0
    assert app.execute("sh", "-c", "touch /data/new").returncode == 0
    # Lean: no compiler, no pip cache, no test tools.
    assert app.execute("sh", "-c", "command -v gcc || command -v cc || command -v c++", check=False).returncode != 0
    assert app.execute("sh", "-c", "test -e /root/.cache/pip || test -e /data/.cache/pip", user="root", check=False).returncode != 0
    assert app.execute(".venv/bin/python", "-c", "import pytest", check=False).returncode != 0
    # The production settings of docs/deploy.md pass Django's deployment checks, warnings too.
    deploy = app.manage("check", "--deploy", "--fail-level", "WARNING",
                        env={**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)}, check=False)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr


def test_the_image_on_the_machines_postgresql(container, lfw_people):
    import psycopg

    try:
        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        if os.environ.get("REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    database = Database("image").create()
    try:
        app = container(DATABASE_URL=database.url)
        app.healthy()
        enrol_and_match(app, lfw_people)
        with psycopg.connect(database.url) as connection:  # the person is in the machine's database
            assert connection.execute("SELECT name FROM records_person").fetchall() == [("Colin Powell",)]
    finally:
        database.drop()  # WITH (FORCE): the container's connections too


def test_the_image_on_its_own_defaults_passes_check_deploy_and_answers_health_over_http(container):
    """HOST 0.0.0.0 and HTTPS on, as the Dockerfile sets them: scripts/serve runs `check --deploy`
    and starts; compose's health check gets /health over plain HTTP; a page redirects to HTTPS."""
    app = container(HOST=None, HTTPS=None)
    app.healthy()

    page = requests.get(app.base_url + "/accounts/login/", allow_redirects=False, timeout=30)
    assert page.status_code == 301 and page.headers["Location"].startswith("https://")
    assert "System check identified no issues" in podman("logs", app.name).stdout + podman("logs", app.name).stderr
