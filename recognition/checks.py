from django.conf import settings
from django.core.checks import Error, register

from .backends.base import ModelWeightsMissing
from .service import missing_weight_files


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
