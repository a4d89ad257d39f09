"""The service installs only what the hash-pinned locks name (README "Dependencies").

The cheap tests read the scripts and the locks on every run, and run the real `scripts/setup` in
a fresh copy with a fresh virtualenv whose lock has one wrong digest (refused, nothing installed).
The full install of the real lock into a fresh virtualenv (~3 GB, about ten minutes on a 2-core
machine) runs once per CI run, in the SQLite pass; elsewhere only when FULL_INSTALL_TEST=1.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)((?:[ \t]*\\\n[ \t]+--hash=sha256:[0-9a-f]{64})+)", re.M)


def lock_pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    pins = {canonicalize_name(m[1]): m[2] for m in PIN.finditer(text)}
    requirement_lines = [line for line in text.splitlines() if line and not line[0].isspace() and line[0] != "#"]
    # Every requirement line of the lock is a pin followed by its hashes: nothing floats.
    assert len(requirement_lines) == len(pins), set(requirement_lines) - {f"{n}=={v} \\" for n, v in pins.items()}
    return pins


def direct_requirements(name: str) -> list[Requirement]:
    lines = (ROOT / name).read_text().splitlines()
    return [Requirement(line.split("#")[0]) for line in lines if line.strip() and line[0] not in "#-"]


@pytest.mark.parametrize("source, lock", [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")])
def test_each_lock_pins_every_direct_requirement_at_its_version(source, lock):
    pins = lock_pins(lock)
    for requirement in direct_requirements(source):
        assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)]), requirement
    header = (ROOT / lock).read_text().split("\n\n")[0]
    assert f"--generate-hashes" in header and f"--output-file={lock}" in header and source in header


def test_the_dev_lock_agrees_with_the_service_lock_on_every_shared_package():
    service, dev = lock_pins("requirements.txt"), lock_pins("requirements-dev.txt")
    assert {name: dev[name] for name in service.keys() & dev.keys()} == {
        name: service[name] for name in service.keys() & dev.keys()
    }
    assert "pytest" in dev and "pytest" not in service


def test_every_install_step_requires_hashes_and_the_image_gets_only_the_service_lock():
    installs = {
        script: [line for line in (ROOT / script).read_text().splitlines() if "pip install" in line]
        for script in ("scripts/setup", "scripts/test")
    }
    assert installs["scripts/setup"] and installs["scripts/test"]
    for script, lines in installs.items():
        for line in lines:
            assert "--require-hashes" in line, f"{script}: {line}"
    assert "-r requirements.txt" in installs["scripts/setup"][0]
    assert "-r requirements-dev.txt" in installs["scripts/test"][0]
    assert "scripts/setup" in (ROOT / "scripts/serve").read_text()
    instructions = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.startswith("#")]
    assert "COPY requirements.txt ./" in instructions
    assert not [line for line in instructions if "requirements-dev" in line]


def fresh_copy_with_lock(tmp_path: Path, lock_text: str) -> Path:
    """The repository as a fresh clone has it, as far as scripts/setup reads it: no .venv."""
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup", clone / "scripts" / "setup")
    (clone / "requirements.txt").write_text(lock_text)
    return clone


def run_setup(clone: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return subprocess.run(
        ["bash", "scripts/setup"], cwd=clone, env=env, capture_output=True, text=True, timeout=1800
    )


def test_setup_refuses_a_file_whose_digest_differs_from_the_lock(tmp_path):
    text = (ROOT / "requirements.txt").read_text()
    six = re.search(r"^six==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+", text, re.M)[0]
    tampered = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, six)
    clone = fresh_copy_with_lock(tmp_path, tampered)
    result = run_setup(clone)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr
    assert not list((clone / ".venv").glob("lib/python*/site-packages/six*"))


@pytest.mark.slow
@pytest.mark.skipif(
    not (os.environ.get("FULL_INSTALL_TEST") or (os.environ.get("CI") and not os.environ.get("DATABASE_URL"))),
    reason="a 3 GB install: once per CI run (the SQLite pass), or with FULL_INSTALL_TEST=1",
)
def test_setup_on_a_fresh_clone_installs_exactly_the_lock(tmp_path):
    clone = fresh_copy_with_lock(tmp_path, (ROOT / "requirements.txt").read_text())
    result = run_setup(clone)
    assert result.returncode == 0, result.stderr[-3000:]
    python = clone / ".venv" / "bin" / "python"
    freeze = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.split()
    installed = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in freeze}
    assert installed == lock_pins("requirements.txt")
    subprocess.run([python, "-m", "pip", "check"], check=True, capture_output=True)
