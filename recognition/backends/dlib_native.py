"""dlib's own pipeline: HOG (falling back to the MMOD CNN) detector, 5-point chip, ResNet descriptor.

The offline pipeline with permissively licensed weights (FACE_RECOGNITION_MODEL=Dlib; the default
is ArcFace-MBF): every weight file ships inside the `face-recognition-models` wheel, and aligning
with dlib's 5-point face chip is how the ResNet model was trained, which is worth several points
of LFW accuracy over DeepFace's generic alignment (bench/RESULTS.md).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from .base import AlignedFace, DetectedFace, FacePipeline, embed_aligned, faces_to_embed, installed_weight_files
from .base import l2_normalise, package_folder

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Largest side the MMOD CNN sees: its cost grows with the pixel count, and faces it is needed
# for (small, turned, dark) are still well above its 40 px minimum at this size.
CNN_MAX_SIDE = 640
WEIGHT_FILES = {
    "shape": "shape_predictor_5_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}
LANDMARK_NAMES = ("right_eye_outer", "right_eye_inner", "left_eye_outer", "left_eye_inner", "nose")


def weights_dir() -> Path:
    return package_folder("face_recognition_models", "models")


class DlibPipeline(FacePipeline):
    """Detect, align and embed with dlib."""

    def __init__(self, detector: str = "dlib", mirror: bool = True):
        import dlib

        files = installed_weight_files(weights_dir(), WEIGHT_FILES)
        self.detector_name = detector
        self.mirror = mirror
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = dlib.cnn_face_detection_model_v1(str(files["cnn"]))
        self._shape = dlib.shape_predictor(str(files["shape"]))
        self._resnet = dlib.face_recognition_model_v1(str(files["resnet"]))
        self._dlib = dlib

    def detect(self, rgb: np.ndarray) -> list[tuple[object, float]]:
        """Return (dlib.rectangle, score) pairs; try cheap detectors first."""
        if self.detector_name in ("dlib", "hog"):
            for upsample in (0, 1):
                if upsample and max(rgb.shape[:2]) > 1200:
                    break  # upsampling a large photo costs seconds and finds nothing HOG missed
                rects, scores, _ = self._hog.run(rgb, upsample, 0.0)
                if len(rects):
                    return list(zip(rects, scores))
        return self._detect_cnn(rgb)

    def _detect_cnn(self, rgb: np.ndarray):
        scale = min(1.0, CNN_MAX_SIDE / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        upsample = 1 if max(small.shape[:2]) < 400 else 0
        found = []
        for det in self._cnn(small, upsample):
            r = det.rect
            rect = self._dlib.rectangle(
                int(r.left() / scale), int(r.top() / scale), int(r.right() / scale), int(r.bottom() / scale)
            )
            found.append((rect, float(det.confidence)))
        return found

    def analyse(self, rgb: np.ndarray, embed: int | None = None) -> list[DetectedFace]:
        """Every face found; each embedded, or only the `embed` largest."""
        height, width = rgb.shape[:2]
        detections = self.detect(rgb)
        faces = []
        for rect, score in detections:
            left, top = max(0, rect.left()), max(0, rect.top())
            right, bottom = min(width, rect.right()), min(height, rect.bottom())
            faces.append(DetectedFace(box=(left, top, max(0, right - left), max(0, bottom - top)), score=round(float(score), 4)))
        chosen = faces_to_embed([face.area for face in faces], embed)
        if not chosen:
            return []
        aligned = self.align(rgb, [detections[i][0] for i in chosen])
        for i, face, descriptor in zip(chosen, aligned, self.embed(aligned)):
            faces[i] = replace(
                faces[i],
                landmarks={name: [int(x), int(y)] for name, (x, y) in zip(LANDMARK_NAMES, face.landmarks)},
                embedding=l2_normalise(descriptor),
            )
        return faces

    def align(self, rgb: np.ndarray, rects: list) -> list[AlignedFace]:
        """dlib's 5-point chip of each face (dlib.rectangle), as the ResNet model was trained on."""
        shapes = self._dlib.full_object_detections()
        for rect in rects:
            shapes.append(self._shape(rgb, rect))
        chips = self._dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
        return [
            AlignedFace(crop=chip, landmarks=np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32))
            for chip, shape in zip(chips, shapes)
        ]

    def embed(self, faces: list[AlignedFace]) -> np.ndarray:
        # With `mirror`, the descriptor of the mirror image is a second look at the same face, for a
        # second ResNet pass; averaging the two cuts LFW pair errors by about a sixth (10-fold
        # 98.73% to 98.95%, bench/RESULTS.md, Previous defaults).
        return embed_aligned(self._resnet.compute_face_descriptor, faces, self.mirror)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
