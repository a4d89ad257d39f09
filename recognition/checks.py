from django.conf import settings
from django.core.checks import Error, register

from .backends.base import ModelWeightsMissing
from .backends.deepface_backend import MODEL_WEIGHT_FILES
from .service import NATIVE_PIPELINES, FaceService, MirrorNotOffered, weight_files
from .weights import WeightFilesRejected


@register()
def model_weights_installed(app_configs, **kwargs):
    """Fail at start-up, not on the first request, when the configured model cannot load, or
    would load a weight file that is not the one its SHA-256 names."""
    model, detector = settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND
    try:
        weight_files(model, detector).verify()
    except ModelWeightsMissing as exc:
        return [
            Error(
                str(exc),
                hint=(
                    f"FACE_RECOGNITION_MODEL={model} and FACE_DETECTOR_BACKEND={detector} need these "
                    "files; the offline pipelines (ArcFace-MBF/scrfd, Dlib/dlib) need none beyond "
                    "requirements.txt."
                ),
                id="recognition.E001",
            )
        ]
    except WeightFilesRejected as exc:
        return [
            Error(
                str(problem),
                hint=(
                    "Reinstall the file from its publisher (pip packages: scripts/setup; DeepFace "
                    "files: manage.py install_weights). recognition/weights.py lists every digest."
                ),
                id="recognition.E003",
            )
            for problem in exc.problems
        ]
    return []


@register()
def native_model_has_its_detector(app_configs, **kwargs):
    """A model only this project runs (not DeepFace) cannot be paired with another detector."""
    model, detector = settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND
    native = NATIVE_PIPELINES.get(model)
    if native is None or detector in native.detectors or model in MODEL_WEIGHT_FILES:
        return []
    return [
        Error(
            f"FACE_RECOGNITION_MODEL={model} runs only with FACE_DETECTOR_BACKEND="
            f"{' or '.join(native.detectors)}, not {detector}.",
            id="recognition.E002",
        )
    ]


@register()
def mirror_is_offered(app_configs, **kwargs):
    """FACE_EMBED_MIRROR on a pipeline without that option is refused at start-up, not on the first
    request."""
    try:
        FaceService(settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND, settings.FACE_EMBED_MIRROR)
    except MirrorNotOffered as exc:
        return [Error(str(exc), hint="Unset FACE_EMBED_MIRROR, or use the default pipeline.", id="recognition.E009")]
    return []


VECTOR_BACKENDS = ("faiss", "milvus")
MILVUS_INDEX_TYPES = ("FLAT", "HNSW")


@register()
def vector_backend_answers(app_configs, **kwargs):
    """With VECTOR_BACKEND=milvus, say at start-up, not on the first search, that Milvus is
    missing or does not answer."""
    backend = settings.VECTOR_BACKEND
    if backend not in VECTOR_BACKENDS:
        return [Error(f"VECTOR_BACKEND={backend} is not one of {', '.join(VECTOR_BACKENDS)}.", id="recognition.E004")]
    if backend != "milvus":
        return []
    if settings.MILVUS_INDEX_TYPE not in MILVUS_INDEX_TYPES:
        return [Error(
            f"MILVUS_INDEX_TYPE={settings.MILVUS_INDEX_TYPE} is not one of {', '.join(MILVUS_INDEX_TYPES)}.",
            hint="FLAT (exact; HNSW above MILVUS_HNSW_ABOVE vectors) or HNSW at any size (docs/deploy.md).",
            id="recognition.E007",
        )]
    if not settings.MILVUS_URI:
        return [Error(
            "VECTOR_BACKEND=milvus needs MILVUS_URI.",
            hint="e.g. MILVUS_URI=http://127.0.0.1:19530 for `milvus-lite server --data-dir DIR --port 19530` "
            "(docs/deploy.md), or the address of a Milvus Standalone or Distributed deployment.",
            id="recognition.E005",
        )]
    from .vectors.milvus_backend import milvus_client

    try:
        milvus_client().list_collections()
    except Exception as exc:  # pymilvus missing, refused, timed out, bad token: all mean the same here
        return [Error(
            f"Milvus does not answer at MILVUS_URI={settings.MILVUS_URI}: {exc}",
            hint="Start it (`milvus-lite server --data-dir DIR --port PORT` on one host) or correct "
            "MILVUS_URI / MILVUS_TOKEN; VECTOR_BACKEND=faiss needs no server.",
            id="recognition.E006",
        )]
    return []


@register()
def faiss_vector_type_known(app_configs, **kwargs):
    from .vectors.faiss_index import VECTOR_TYPES

    if settings.FAISS_VECTOR_TYPE in VECTOR_TYPES:
        return []
    return [Error(
        f"FAISS_VECTOR_TYPE={settings.FAISS_VECTOR_TYPE} is not one of {', '.join(VECTOR_TYPES)}.",
        id="recognition.E008",
    )]
