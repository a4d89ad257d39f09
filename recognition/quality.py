"""How usable a detected face is for recognition, measured from its landmarks and an aligned crop.

Three things make a face a poor reference: too few pixels (the distance between the eyes), blur
(the variance of the Laplacian of an aligned, normalised crop: a sharp face has strong edges), and
a head turned too far (the nose's offset from between the eyes, from the five landmarks). The
limits are per model key (recognition/calibration.py), set so that about 1% of LFW photos fail
(bench/RESULTS.md); `problem()` names the first limit a face is outside.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

# The crop the blur is measured on: the eyes where ArcFace's 112 px template puts them, whatever
# the pipeline, so the figure means the same for every model and every photo size.
CROP_SIZE = 112
TEMPLATE_EYES = np.array([[38.2946, 51.6963], [73.5318, 51.5014]], dtype=np.float32)  # right, left


@dataclass(frozen=True)
class FaceQuality:
    eye_distance: float  # pixels between the eye centres, in the photo
    sharpness: float  # variance of the Laplacian of the aligned grey crop
    yaw: float  # nose's sideways offset from between the eyes, in eye distances (0 = frontal)
    pitch: float  # nose's offset below the eyes, in eye distances (about 0.6 when level)
    roll: float  # tilt of the line between the eyes, degrees

    def as_dict(self) -> dict:
        return {name: round(value, 3) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class QualityLimits:
    """Where a face stops being usable; each limit's `reason` is the machine-readable answer."""

    min_eye_distance: float
    min_sharpness: float
    max_yaw: float  # absolute
    pitch_range: tuple[float, float]

    def problem(self, quality: FaceQuality) -> tuple[str, str] | None:
        """(reason, explanation) of the first limit the face is outside, or None."""
        if quality.eye_distance < self.min_eye_distance:
            return "too_small", (
                f"The face is too small: {quality.eye_distance:.0f} pixels between the eyes, "
                f"at least {self.min_eye_distance:.0f} are needed."
            )
        if quality.sharpness < self.min_sharpness:
            return "too_blurred", (
                f"The face is too blurred (sharpness {quality.sharpness:.0f}, at least "
                f"{self.min_sharpness:.0f} is needed)."
            )
        low, high = self.pitch_range
        if abs(quality.yaw) > self.max_yaw or not low <= quality.pitch <= high:
            return "turned_away", (
                f"The face is turned too far from the camera (yaw {quality.yaw:.2f}, pitch "
                f"{quality.pitch:.2f}; within {self.max_yaw:.2f} and {low:.2f} to {high:.2f} are needed)."
            )
        return None


def _eyes_and_nose(landmarks: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Right eye, left eye and nose centres from any pipeline's landmark names (ONNX and DeepFace
    give eye centres; dlib's 5-point model gives each eye's two corners)."""
    def point(*names):
        found = [landmarks[name] for name in names if name in landmarks]
        return np.mean(np.asarray(found, dtype=np.float32), axis=0) if len(found) == len(names) else None

    right = point("right_eye") if "right_eye" in landmarks else point("right_eye_outer", "right_eye_inner")
    left = point("left_eye") if "left_eye" in landmarks else point("left_eye_outer", "left_eye_inner")
    nose = point("nose")
    if right is None or left is None or nose is None:
        return None
    return right, left, nose


def measure(rgb: np.ndarray, landmarks: dict) -> FaceQuality | None:
    """The quality of the face with these landmarks (in `rgb`'s pixels); None without eyes and nose."""
    import cv2

    points = _eyes_and_nose(landmarks)
    if points is None:
        return None
    right, left, nose = points
    across = left - right
    eye_distance = float(np.hypot(*across))
    if eye_distance < 1e-3:
        return None
    roll = math.degrees(math.atan2(float(across[1]), float(across[0])))
    # The nose in the face's own frame: x along the eye line, y perpendicular to it.
    unit = across / eye_distance
    offset = nose - (right + left) / 2
    yaw = float(offset @ unit) / eye_distance
    pitch = float(offset @ np.array([-unit[1], unit[0]])) / eye_distance
    # Two points fix a similarity transform exactly: rotation, scale and shift onto the template.
    matrix = cv2.estimateAffinePartial2D(np.stack([right, left]), TEMPLATE_EYES)[0]
    if matrix is None:
        return None
    crop = cv2.warpAffine(rgb, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return FaceQuality(eye_distance=eye_distance, sharpness=sharpness, yaw=yaw, pitch=pitch, roll=roll)
