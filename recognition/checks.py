from django.conf import settings
from django.core.checks import Error, register

from .backends.base import ModelWeightsMissing
from .backends.deepface_backend import MODEL_WEIGHT_FILES
from .service import NATIVE_PIPELINES, missing_weight_files


@register()
def model_weights_installed(app_configs, **kwargs):
    """Fail at start-up, not on the first request, when the configured model cannot load."""
    try:
        missing = missing_weight_files(settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND)
    except ModelWeightsMissing as exc:
        missing = exc.missing_files
    if not missing:
        return []
    return [
        Error(
            str(ModelWeightsMissing(missing)),
            hint=(
                f"FACE_RECOGNITION_MODEL={settings.FACE_RECOGNITION_MODEL} and "
                f"FACE_DETECTOR_BACKEND={settings.FACE_DETECTOR_BACKEND} need these files; the "
                "offline pipelines (ArcFace-MBF/scrfd, Dlib/dlib) need none beyond requirements.txt."
            ),
            id="recognition.E001",
        )
    ]


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
