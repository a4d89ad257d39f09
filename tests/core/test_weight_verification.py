"""Weight files are checked against recognition/weights.py before a model loads.

Every tampered file here is a copy under tmp_path that a pipeline is pointed at; the installed
files are never touched.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from recognition.backends import dlib_native, insightface_onnx
from recognition.backends.deepface_backend import weights_folder
from recognition.service import FaceService
from recognition.weights import PUBLISHED_SHA256, TRUSTED_FILE_NAME, WeightFilesRejected

ROOT = Path(__file__).resolve().parents[2]
INSTALLED_ONNX = insightface_onnx.weights_dir()
DLIB_RESNET = dlib_native.weights_dir() / "dlib_face_recognition_resnet_model_v1.dat"


def copy_with_one_byte_changed(source: Path, target: Path) -> str:
    """Copy `source` to `target` with one bit of its middle byte flipped; the copy's SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def onnx_copy(tmp_path, monkeypatch):
    """The default pipeline pointed at a copy of its weights folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in insightface_onnx.WEIGHT_FILES.values():
        shutil.copy2(INSTALLED_ONNX / name, folder / name)
    monkeypatch.setattr(insightface_onnx, "weights_dir", lambda: folder)
    return folder


def test_every_offline_weight_file_has_its_digest_in_the_table():
    for backend in (insightface_onnx, dlib_native):
        assert set(backend.WEIGHT_FILES.values()) <= PUBLISHED_SHA256.keys()


def test_the_installed_offline_pipelines_pass_the_check(settings):
    call_command("check")  # the default, ArcFace-MBF / scrfd
    settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND = "Dlib", "dlib"
    call_command("check")


def test_one_byte_changed_fails_the_check_naming_the_file_and_both_digests(onnx_copy):
    tampered = onnx_copy / "w600k_mbf.onnx"
    found = copy_with_one_byte_changed(INSTALLED_ONNX / "w600k_mbf.onnx", tampered)
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    message = str(failure.value)
    assert "recognition.E003" in message and str(tampered) in message
    assert PUBLISHED_SHA256["w600k_mbf.onnx"] in message and found in message
    assert "scrfd_500m_bnkps.onnx" not in message  # the untouched copy passes


def test_the_service_refuses_to_load_a_changed_file(onnx_copy):
    copy_with_one_byte_changed(INSTALLED_ONNX / "scrfd_500m_bnkps.onnx", onnx_copy / "scrfd_500m_bnkps.onnx")
    service = FaceService("ArcFace-MBF", "scrfd")
    with pytest.raises(WeightFilesRejected, match="scrfd_500m_bnkps.onnx does not match its SHA-256"):
        service.load()
    assert not service.loaded


def test_a_file_changed_in_place_with_its_size_and_mtime_kept_is_hashed_again(onnx_copy):
    """The digest cache is keyed on ctime too, which no `touch` can set back."""
    call_command("check")  # verifies the good copies and caches their digests
    tampered = onnx_copy / "w600k_mbf.onnx"
    before = os.stat(tampered)
    data = bytearray(tampered.read_bytes())
    data[1000] ^= 0x01
    with open(tampered, "r+b") as handle:  # same inode, same size
        handle.write(data)
    os.utime(tampered, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(tampered)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    with pytest.raises(SystemCheckError, match=hashlib.sha256(data).hexdigest()):
        call_command("check")


def test_manage_py_check_and_worker_boot_stop_on_a_changed_deepface_file(tmp_path):
    """The real command line and the real worker start-up (facesite/wsgi.py) in fresh
    processes: DeepFace's Dlib model over a DATA_DIR whose weight file has one byte changed."""
    installed = weights_folder(tmp_path) / DLIB_RESNET.name
    found = copy_with_one_byte_changed(DLIB_RESNET, installed)
    env = os.environ | {
        "DATA_DIR": str(tmp_path),
        # Named, not inherited: loading DeepFace in this test process sets DEEPFACE_HOME in its
        # environment, which would point the child at this run's own (unchanged) weights.
        "DEEPFACE_HOME": str(tmp_path),
        "FACE_RECOGNITION_MODEL": "Dlib",
        "FACE_DETECTOR_BACKEND": "opencv",
        "LOAD_MODELS_AT_STARTUP": "true",
    }
    expected = PUBLISHED_SHA256[DLIB_RESNET.name]
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 1
    assert str(installed) in check.stderr and expected in check.stderr and found in check.stderr
    boot = subprocess.run(
        [sys.executable, "-c", "import facesite.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert boot.returncode != 0
    assert "WeightFilesRejected" in boot.stderr and expected in boot.stderr and found in boot.stderr


def test_install_weights_refuses_a_file_whose_digest_nobody_publishes(settings, tmp_path):
    settings.DEEPFACE_HOME = tmp_path / "home"
    unknown = tmp_path / "facenet512_weights.h5"
    unknown.write_bytes(b"weights from somewhere")
    digest = hashlib.sha256(b"weights from somewhere").hexdigest()
    with pytest.raises(CommandError, match=f"facenet512_weights.h5 has no known SHA-256 \\(found {digest}\\)"):
        call_command("install_weights", str(unknown))
    folder = weights_folder(settings.DEEPFACE_HOME)
    assert not (folder / unknown.name).exists() and not (folder / TRUSTED_FILE_NAME).exists()


def test_install_weights_refuses_a_known_file_that_differs_even_when_told_to_trust(settings, tmp_path):
    settings.DEEPFACE_HOME = tmp_path / "home"
    changed = tmp_path / "source" / DLIB_RESNET.name
    found = copy_with_one_byte_changed(DLIB_RESNET, changed)
    with pytest.raises(CommandError, match=f"expected {PUBLISHED_SHA256[DLIB_RESNET.name]}, found {found}"):
        call_command("install_weights", "--trust-unknown", str(changed))
    assert not (weights_folder(settings.DEEPFACE_HOME) / DLIB_RESNET.name).exists()


@pytest.mark.slow
def test_an_unknown_file_installed_with_trust_unknown_is_recorded_then_verified(settings, tmp_path, monkeypatch, capsys):
    """No real DeepFace weight file without a published digest exists on this machine, so dlib's
    ResNet plays one: its digest is taken out of the table for this test. DeepFace then really
    loads it (install_weights' own check), and the check verifies it against the recorded digest."""
    monkeypatch.delitem(PUBLISHED_SHA256, DLIB_RESNET.name)
    settings.DEEPFACE_HOME = tmp_path / "home"
    settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND = "Dlib", "opencv"
    with pytest.raises(CommandError, match="--trust-unknown"):
        call_command("install_weights", str(DLIB_RESNET))

    call_command("install_weights", "--trust-unknown", str(DLIB_RESNET))
    digest = hashlib.sha256(DLIB_RESNET.read_bytes()).hexdigest()
    output = capsys.readouterr().out
    assert f"trusted {DLIB_RESNET.name} sha256 {digest}" in output and "Dlib loads" in output
    call_command("check")

    installed = weights_folder(settings.DEEPFACE_HOME) / DLIB_RESNET.name
    found = copy_with_one_byte_changed(DLIB_RESNET, installed)
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    assert f"expected {digest}, found {found}" in str(failure.value)
