"""Per-model decision thresholds and confidence curves, with where each number comes from.

A cosine distance means different things for different models, so every model key carries its
own default threshold, threshold guide and a logistic curve turning a distance into a calibrated
probability that two faces are the same person.
"""

import math
from dataclasses import dataclass

from .quality import QualityLimits


@dataclass(frozen=True)
class Calibration:
    threshold: float  # default cosine distance at or below which a match is accepted
    # 1:1 verification (is this photo that person?): the distance that gets the most LFW pairs
    # right. One comparison has one chance of a false accept, where a gallery search has one per
    # person enrolled, so it is looser than `threshold`; never use it to search a gallery.
    verification_threshold: float
    logistic_slope: float  # P(same | d) = 1 / (1 + exp(slope * (d - midpoint)))
    logistic_midpoint: float
    guide: tuple[tuple[float, str], ...]
    provenance: str
    # The best match must also be at most this fraction of the runner-up's distance
    # (records/usecases/matching.py); 1.0 = no such test.
    max_ratio: float = 1.0
    # The largest threshold measured to accept at most 1% of strangers in the open set (with
    # max_ratio): the most a caller who may not read people may ask for (MATCH_MAX_THRESHOLD).
    # None when not measured: then the default threshold is that limit.
    one_percent_strangers: float | None = None

    @property
    def match_max_threshold(self) -> float:
        return self.threshold if self.one_percent_strangers is None else self.one_percent_strangers
    # Faces outside these are refused at enrolment (QUALITY_CHECK); None: not measured for this
    # model, nothing refused.
    quality_limits: QualityLimits | None = None

    def confidence(self, distance: float) -> float:
        z = self.logistic_slope * (distance - self.logistic_midpoint)
        if z > 50:
            return 0.0
        return 1.0 / (1.0 + math.exp(z))


# SCRFD's landmarks and the photo are all the quality measure reads: the same limits serve every
# ArcFace-MBF key (provenance below).
SCRFD_QUALITY_LIMITS = QualityLimits(min_eye_distance=25.7, min_sharpness=16.0, max_yaw=0.617, pitch_range=(0.207, 0.926))

CALIBRATIONS: dict[str, Calibration] = {
    "ArcFace-MBF:scrfd:arcface112-v3": Calibration(
        threshold=0.61,
        verification_threshold=0.7522,
        one_percent_strangers=0.6345,
        logistic_slope=34.662,
        logistic_midpoint=0.7683,
        guide=(
            (0.50, "very strict: 86% of enrolled people recognised, 0.4% of strangers accepted"),
            (0.55, "strict: 93% recognised, 0.6% of strangers accepted"),
            (0.61, "default: 97% recognised, 0.6% of strangers accepted"),
            (0.64, "relaxed: 98% recognised, 1.3% of strangers accepted"),
            (0.7522, "1:1 verification (is this the same person?): 99.8% of LFW pairs right; "
                     "in a gallery of thousands it accepts more than half of all strangers"),
        ),
        provenance=(
            "bench/accuracy.py on LFW DevTrain, 2026-11-29 (SCRFD input from the photo's size; the "
            "crop embedded once, without its mirror image). Pairs (pairsDevTrain, 2,200): 10-fold "
            "accuracy 99.77% +- 0.42, every face found, accuracy-optimal distance 0.7522, TAR 99.64% "
            "at 0.1% FAR (distance 0.788); logistic fit of P(same|d) on those pairs. Open set "
            "(--identification --distractors: 2,611 enrolled, 5,487 known probes, 1,427 strangers): "
            "distance 0.6345 accepts 0.98% of strangers and recognises 98.3%; the default 0.61 keeps "
            "a margin for larger galleries: 0.56% of strangers accepted (as the previous key's 0.60), "
            "97.1% recognised, 0.11% given a wrong name. The runner-up ratio test (--sweep) lowers "
            "recognition without lowering stranger acceptance for this model, so it is off. "
            "Quality limits: bench/accuracy.py --quality, 2026-11-29, on every fourth LFW DevTrain photo (2,382, landmarks of the "
            "640-first detection of the first key: same SCRFD weights): the same fraction cut off each "
            "tail (eye distance, sharpness, yaw both ways, pitch both ways), the largest refusing at "
            "most 1% of them."
        ),
        quality_limits=SCRFD_QUALITY_LIMITS,
    ),
    # FACE_EMBED_MIRROR: the same detections, crops and quality limits (the landmarks do not
    # change), the crop's mirror image embedded in the same run and added in.
    "ArcFace-MBF:scrfd:arcface112-flip-v3": Calibration(
        threshold=0.61,
        verification_threshold=0.7429,
        one_percent_strangers=0.6347,
        logistic_slope=34.483,
        logistic_midpoint=0.7636,
        guide=(
            (0.50, "very strict: 87% of enrolled people recognised, 0.4% of strangers accepted"),
            (0.55, "strict: 94% recognised, 0.6% of strangers accepted"),
            (0.61, "default: 97.5% recognised, 0.6% of strangers accepted"),
            (0.64, "relaxed: 98.7% recognised, 1.4% of strangers accepted"),
            (0.7429, "1:1 verification (is this the same person?): 99.8% of LFW pairs right; "
                     "in a gallery of thousands it accepts about half of all strangers"),
        ),
        provenance=(
            "bench/accuracy.py on LFW DevTrain with FACE_EMBED_MIRROR=true, 2026-12-07 (the default "
            "pipeline's detections and crops; each crop and its mirror image embedded in one "
            "MobileFaceNet run and added before normalising). Pairs (pairsDevTrain, 2,200): 10-fold "
            "accuracy 99.77% +- 0.30, every face found, accuracy-optimal distance 0.7429, TAR 99.64% "
            "at 0.1% FAR (distance 0.7762); logistic fit of P(same|d) on those pairs. Open set "
            "(--identification --distractors: 2,611 enrolled, 5,487 known probes, 1,427 strangers): "
            "distance 0.6347 accepts 0.98% of strangers and recognises 98.5%; the default 0.61 is "
            "the largest distance of two decimals accepting the 0.56% of strangers the crop alone's "
            "default accepts: 97.5% recognised (the crop alone: 97.1%), 0.11% given a wrong name "
            "(0.62 accepts 0.70%). With 1,184 enrolled (2,854 strangers), at 0.61: 97.6% recognised, "
            "0.21% of strangers accepted. The runner-up ratio test (--sweep) brings nothing, as for "
            "the crop alone: off. Quality limits: the crop alone's (the same landmarks and photo, "
            "which is all they measure)."
        ),
        quality_limits=SCRFD_QUALITY_LIMITS,
    ),
    "Dlib:dlib:chip5-flip-v1": Calibration(
        threshold=0.06,
        verification_threshold=0.0876,
        max_ratio=0.70,
        # Measured at the default (0.84% of strangers with the ratio test); no larger value was.
        one_percent_strangers=0.06,
        logistic_slope=183.4,
        logistic_midpoint=0.0896,
        guide=(
            (0.04, "very strict: 46% of enrolled people recognised, 0.2% of strangers accepted"),
            (0.05, "strict: 63% recognised, 0.8% of strangers accepted"),
            (0.06, "default: 66% recognised, 0.8% of strangers accepted"),
            (0.0876, "1:1 verification (is this the same person?): 99.2% of LFW pairs right; "
                     "with the ratio test off it accepts nearly every stranger in a large gallery"),
        ),
        provenance=(
            "bench/accuracy.py on LFW DevTrain, 2026-11-28. Pairs (pairsDevTrain, 2,200): "
            "accuracy-optimal distance 0.0876, 10-fold accuracy 98.95%, impostor pairs accepted "
            "at 0.1% at distance 0.072; logistic fit of P(same|d) on those pairs. Open set "
            "(--identification --distractors: 2,611 enrolled, 5,487 known probes, 1,427 strangers): "
            "the distance alone must drop to 0.040 to accept at most 1% of strangers and then "
            "recognises 48%; distance 0.06 with the best match at most 0.70 of the runner-up's "
            "distance accepts 0.84% of strangers and recognises 66% (0.09% given a wrong name). "
            "Guide figures are for that gallery, with the ratio test at 0.70."
        ),
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
        verification_threshold=threshold,  # DeepFace publishes pair thresholds: 1:1 already
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
