"""The face pipeline of this process: one model, loaded once, used under one lock. When its
faces are the same person is the match policy's (recognition/policy.py), not this module's.

DeepFace and dlib inference are not thread-safe (concurrent calls hang or return wrong
embeddings), so every call into a model goes through `FaceService._lock`. gunicorn runs one
thread per worker; the lock matters for runserver, tests and management commands.
"""

import importlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from django.conf import settings

from .backends.base import DetectedFace, FacePipeline, ModelWeightsMissing
from .errors import NoFaceDetected
from .imaging import DecodedImage
from .quality import measure as measure_quality
from .weights import trusted_digests, verify_weight_files

logger = logging.getLogger(__name__)

# Bump when a change to detection or alignment changes embeddings: stored vectors of the old key
# are then re-embedded by `rebuild_index --reembed`.
DEEPFACE_ALIGNMENT_VERSION = "deepface-align-v1"


@dataclass(frozen=True)
class NativePipeline:
    """A pipeline run by this project's own code on weights that ship in a pip package."""

    module: str  # under recognition.backends; holds WEIGHT_FILES, weights_dir() and the class
    class_name: str
    alignment_version: str
    detectors: tuple[str, ...]
    # The version of the embeddings with the crop's mirror image averaged in (FACE_EMBED_MIRROR), a
    # key of its own: the two kinds of vector are never compared. None: no such option (Dlib's
    # pipeline always averages its mirror in).
    mirror_version: str | None = None


NATIVE_PIPELINES = {
    "ArcFace-MBF": NativePipeline(
        "insightface_onnx", "InsightFacePipeline", "arcface112-v3", ("scrfd",), mirror_version="arcface112-flip-v3"
    ),
    "Dlib": NativePipeline("dlib_native", "DlibPipeline", "chip5-flip-v1", ("dlib", "hog", "cnn")),
}


@dataclass(frozen=True)
class FaceAnalysis:
    """All faces of one image, largest first."""

    image: DecodedImage
    faces: list[DetectedFace]
    model_key: str

    @property
    def primary(self) -> DetectedFace:
        if not self.faces:
            raise NoFaceDetected("No face was detected in the image.")
        return self.faces[0]


def native_pipeline(model_name: str, detector: str) -> NativePipeline | None:
    """The native pipeline for this model and detector, or None when DeepFace runs them."""
    native = NATIVE_PIPELINES.get(model_name)
    return native if native and detector in native.detectors else None


def _backend_module(native: NativePipeline):
    return importlib.import_module(f"{__package__}.backends.{native.module}")


@dataclass(frozen=True)
class WeightFiles:
    """The weight files a pipeline loads, and the digests `install_weights --trust-unknown`
    recorded for them (only DeepFace's folder has such a record; pip-installed files need none)."""

    paths: list[Path]
    trusted: dict[str, str]

    @property
    def missing(self) -> list[Path]:
        return [path for path in self.paths if not path.exists()]

    def verify(self) -> None:
        """Raise ModelWeightsMissing or WeightFilesRejected unless every file is the expected one."""
        if self.missing:
            raise ModelWeightsMissing(self.missing)
        verify_weight_files(self.paths, self.trusted)


def weight_files(model_name: str, detector: str) -> WeightFiles:
    """What the configured pipeline loads; found without loading anything."""
    native = native_pipeline(model_name, detector)
    if native:
        backend = _backend_module(native)
        folder = backend.weights_dir()
        return WeightFiles([folder / name for name in backend.WEIGHT_FILES.values()], trusted={})
    from .backends.deepface_backend import required_weight_files, weights_folder

    folder = weights_folder(settings.DEEPFACE_HOME)
    return WeightFiles([folder / name for name in required_weight_files(model_name, detector)], trusted_digests(folder))


class MirrorNotOffered(ValueError):
    """FACE_EMBED_MIRROR asked of a pipeline that has no mirror option."""

    def __init__(self, model_name: str, detector: str):
        offered = [name for name, native in NATIVE_PIPELINES.items() if native.mirror_version]
        super().__init__(
            f"FACE_EMBED_MIRROR is offered by {', '.join(offered)} only, not by "
            f"FACE_RECOGNITION_MODEL={model_name} with FACE_DETECTOR_BACKEND={detector}."
        )


class FaceService:
    def __init__(self, model_name: str, detector: str, mirror: bool = False):
        self.model_name = model_name
        self.detector = detector
        self.mirror = mirror
        self._lock = threading.Lock()
        self._native = native_pipeline(model_name, detector)
        if mirror and not (self._native and self._native.mirror_version):
            raise MirrorNotOffered(model_name, detector)
        if self._native:
            alignment = self._native.mirror_version if mirror else self._native.alignment_version
        else:
            alignment = DEEPFACE_ALIGNMENT_VERSION
        self.model_key = f"{model_name}:{detector}:{alignment}"

    @cached_property
    def pipeline(self) -> FacePipeline:
        started = time.perf_counter()
        # Nothing loads a file that is not the one its digest names (recognition/weights.py).
        weight_files(self.model_name, self.detector).verify()
        if self._native:
            pipeline_class = getattr(_backend_module(self._native), self._native.class_name)
            options = {"mirror": self.mirror} if self._native.mirror_version else {}
            pipeline = pipeline_class(detector=self.detector, **options)
        else:
            from .backends.deepface_backend import DeepFacePipeline

            pipeline = DeepFacePipeline(self.model_name, self.detector, settings.DEEPFACE_HOME)
        logger.info("Loaded %s in %.1f s", self.model_key, time.perf_counter() - started)
        return pipeline

    @property
    def loaded(self) -> bool:
        return "pipeline" in self.__dict__

    def load(self) -> None:
        """Load the weights and run one inference, so the first request pays neither."""
        with self._lock:
            self.pipeline.analyse(np.zeros((160, 160, 3), dtype=np.uint8))

    def analyse(self, image: DecodedImage, embed_all: bool = False) -> FaceAnalysis:
        """Every face of the photo; only the largest, which is enrolled and matched, is embedded
        unless `embed_all`, the MAX_FACES_PER_PHOTO largest (the others' `embedding` is None): an
        embedding costs more than the detection of every face."""
        return self.analyse_many([image], embed_all)[0]

    def analyse_many(self, images: list[DecodedImage], embed_all: bool = False) -> list[FaceAnalysis]:
        """`analyse` of each image; a pipeline that can embeds all their faces in one run."""
        downscaled = [_downscale(image.rgb, settings.DETECTION_MAX_SIDE) for image in images]
        rgbs = [rgb for rgb, _ in downscaled]
        embed = settings.MAX_FACES_PER_PHOTO if embed_all else 1
        with self._lock:
            found = self.pipeline.analyse_many(rgbs, embed=embed)
        analyses = []
        for image, (_, scale), faces in zip(images, downscaled, found):
            if scale != 1.0:
                faces = [_rescale(face, 1.0 / scale) for face in faces]
            faces.sort(key=lambda face: face.area, reverse=True)
            # On the photo as sent, not the copy detection saw: a downscaled copy would hide blur.
            faces = [
                replace(face, quality=measure_quality(image.rgb, face.landmarks)) if face.embedding is not None else face
                for face in faces
            ]
            analyses.append(FaceAnalysis(image=image, faces=faces, model_key=self.model_key))
        return analyses


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    longest = max(rgb.shape[:2])
    if not max_side or longest <= max_side:
        return rgb, 1.0
    import cv2

    scale = max_side / longest
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _rescale(face: DetectedFace, factor: float) -> DetectedFace:
    x, y, w, h = face.box
    return DetectedFace(
        box=(round(x * factor), round(y * factor), round(w * factor), round(h * factor)),
        score=face.score,
        landmarks={name: [round(v * factor, 1) for v in point] for name, point in face.landmarks.items()},
        embedding=face.embedding,
    )


_service: FaceService | None = None
_service_lock = threading.Lock()


def get_service() -> FaceService:
    """The process-wide service for the configured model."""
    global _service
    with _service_lock:
        wanted = (settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND, settings.FACE_EMBED_MIRROR)
        if _service is None or (_service.model_name, _service.detector, _service.mirror) != wanted:
            _service = FaceService(*wanted)
        return _service
