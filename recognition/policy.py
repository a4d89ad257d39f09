"""When two faces are the same person: the calibrated match policy of one model key, apart from
loading and running the model (recognition/service.py), as Immich keeps its search distance out of
its ML service. The figures are the model key's calibration (recognition/calibration.py); the
settings RECOGNITION_THRESHOLD, MATCH_MAX_THRESHOLD and RECOGNITION_MAX_RATIO override them when
set. Read when asked, so a settings change in a test or a shell applies at once."""

from dataclasses import dataclass

from django.conf import settings

from .calibration import Calibration, calibration_for


@dataclass(frozen=True)
class MatchPolicy:
    model_key: str
    calibration: Calibration
    default_threshold: float  # a gallery search's cosine distance when the caller gives none
    match_max_threshold: float  # the largest threshold a caller who may not read people may ask for
    default_max_ratio: float  # the runner-up ratio test (records/usecases/matching.py)

    @property
    def verification_threshold(self) -> float:
        """1:1 (is this photo that person?); in a gallery it accepts most strangers."""
        return self.calibration.verification_threshold

    @classmethod
    def of(cls, model_key: str) -> "MatchPolicy":
        calibration = calibration_for(model_key)
        return cls(
            model_key=model_key,
            calibration=calibration,
            default_threshold=_configured(settings.RECOGNITION_THRESHOLD, calibration.threshold),
            match_max_threshold=_configured(settings.MATCH_MAX_THRESHOLD, calibration.match_max_threshold),
            default_max_ratio=_configured(settings.RECOGNITION_MAX_RATIO, calibration.max_ratio),
        )


def _configured(setting: float | None, calibrated: float) -> float:
    return calibrated if setting is None else setting
