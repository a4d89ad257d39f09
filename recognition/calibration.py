"""Per-model decision thresholds and confidence curves, with where each number comes from.

A cosine distance means different things for different models, so every model key carries its
own default threshold, threshold guide and a logistic curve turning a distance into a calibrated
probability that two faces are the same person.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    threshold: float  # default cosine distance at or below which a match is accepted
    logistic_slope: float  # P(same | d) = 1 / (1 + exp(slope * (d - midpoint)))
    logistic_midpoint: float
    guide: tuple[tuple[float, str], ...]
    provenance: str

    def confidence(self, distance: float) -> float:
        z = self.logistic_slope * (distance - self.logistic_midpoint)
        if z > 50:
            return 0.0
        return 1.0 / (1.0 + math.exp(z))


CALIBRATIONS: dict[str, Calibration] = {
    "Dlib:dlib:chip5-flip-v1": Calibration(
        threshold=0.07,  # provisional
        logistic_slope=183.4,
        logistic_midpoint=0.0896,
        guide=(),
        provenance="",
    ),
}

# DeepFace's published cosine thresholds (deepface/modules/verification.py), for models whose
# weights cannot be had on the machine that calibrates; the logistic is centred on that value.
DEEPFACE_THRESHOLDS = {
    "ArcFace": 0.68,
    "Facenet512": 0.30,
    "Facenet": 0.40,
    "VGG-Face": 0.68,
    "SFace": 0.593,
    "GhostFaceNet": 0.65,
    "Dlib": 0.07,
}


def calibration_for(model_key: str) -> Calibration:
    if model_key in CALIBRATIONS:
        return CALIBRATIONS[model_key]
    model_name = model_key.split(":", 1)[0]
    threshold = DEEPFACE_THRESHOLDS.get(model_name, 0.4)
    return Calibration(
        threshold=threshold,
        logistic_slope=12.0 / max(threshold, 0.05),
        logistic_midpoint=threshold,
        guide=(
            (round(threshold * 0.75, 3), "strict"),
            (threshold, "balanced (DeepFace's published value)"),
            (round(threshold * 1.15, 3), "relaxed"),
        ),
        provenance=(
            f"Not measured here: DeepFace's published cosine threshold for {model_name}. "
            "Run `python -m bench.accuracy` with this model to calibrate it."
        ),
    )
