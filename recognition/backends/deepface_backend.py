"""Any DeepFace model and detector, e.g. ArcFace + RetinaFace, loaded by DeepFace's own code.

DeepFace downloads missing weights on first use; this machine (and many deployments) cannot, so
the files a configuration needs are checked before loading and a missing one is named with the
command that installs it (`manage.py install_weights`).
"""

import os
from pathlib import Path

import numpy as np

from .base import DetectedFace, FacePipeline, ModelWeightsMissing, l2_normalise

# Weight files DeepFace (tensorflow engine) looks for under $DEEPFACE_HOME/.deepface/weights.
MODEL_WEIGHT_FILES = {
    "ArcFace": ["arcface_weights.h5"],
    "Facenet": ["facenet_weights.h5"],
    "Facenet512": ["facenet512_weights.h5"],
    "VGG-Face": ["vgg_face_weights.h5"],
    "SFace": ["face_recognition_sface_2021dec.onnx"],
    "GhostFaceNet": ["ghostfacenet_v1.h5"],
    "Dlib": ["dlib_face_recognition_resnet_model_v1.dat"],
}
DETECTOR_WEIGHT_FILES = {
    "retinaface": ["retinaface.h5"],
    "dlib": ["shape_predictor_5_face_landmarks.dat"],
    "yunet": ["face_detection_yunet_2023mar.onnx"],
    "centerface": ["centerface.onnx"],
    "ssd": ["deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"],
    # opencv and mtcnn ship their weights inside their pip packages.
}


def weights_folder(deepface_home: Path) -> Path:
    return Path(deepface_home) / ".deepface" / "weights"


def required_weight_files(model_name: str, detector: str) -> list[str]:
    return MODEL_WEIGHT_FILES.get(model_name, []) + DETECTOR_WEIGHT_FILES.get(detector, [])


class DeepFacePipeline(FacePipeline):
    """Detect, align and embed through `DeepFace.represent`."""

    def __init__(self, model_name: str, detector: str, deepface_home: Path):
        folder = weights_folder(deepface_home)
        missing = [folder / name for name in required_weight_files(model_name, detector)]
        missing = [path for path in missing if not path.exists()]
        if missing:
            raise ModelWeightsMissing(missing)
        # DeepFace reads DEEPFACE_HOME when it is imported, so set it first.
        os.environ["DEEPFACE_HOME"] = str(deepface_home)
        from deepface import DeepFace

        self._deepface = DeepFace
        self.model_name = model_name
        self.detector_name = detector
        # build_model loads the weights now, so a broken file fails at start-up, not on a request.
        DeepFace.build_model(task="facial_recognition", model_name=model_name)
        if detector != "skip":
            DeepFace.build_model(task="face_detector", model_name=detector)

    def analyse(self, rgb: np.ndarray, embed: int | None = None) -> list[DetectedFace]:
        # DeepFace.represent embeds every face it finds; there is no cheaper call for the largest.
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        try:
            results = self._deepface.represent(
                img_path=bgr,
                model_name=self.model_name,
                detector_backend=self.detector_name,
                enforce_detection=True,
                align=True,
            )
        except ValueError as exc:
            if "Face could not be detected" in str(exc):
                return []
            raise
        faces = []
        for result in results:
            area = result["facial_area"]
            landmarks = {
                name: [int(v) for v in area[name]]
                for name in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
                if area.get(name) is not None
            }
            faces.append(
                DetectedFace(
                    box=(int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])),
                    score=round(float(result.get("face_confidence") or 0.0), 4),
                    landmarks=landmarks,
                    embedding=l2_normalise(result["embedding"]),
                )
            )
        return faces
