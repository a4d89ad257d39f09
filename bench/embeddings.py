"""Embed many photos with the configured pipeline, on every core, with an on-disk cache.

Labelled face sets (LFW) name the person whose face is centred in the photo, so the face nearest
the centre is the one embedded (the service itself picks the largest face, which in LFW is
sometimes a bystander's). The cache is keyed by the pipeline's model key, so a change of model
or alignment never reuses old vectors.
"""

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def people_of(manifest: Path) -> dict[str, list[str]]:
    """A labelled set's manifest (`path,identity`) as identity -> its photos' paths, in file order."""
    people: dict[str, list[str]] = {}
    with Path(manifest).open() as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(str(Path(manifest).parent / row["path"]))
    return people


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
    import django

    django.setup()


def _embed_one(path: str):
    from recognition.errors import FaceError
    from recognition.imaging import decode_image
    from recognition.service import get_service

    try:
        analysis = get_service().analyse(decode_image(Path(path).read_bytes()), embed_all=True)
    except FaceError:
        return None
    if not analysis.faces:
        return None
    centre = np.array([analysis.image.width, analysis.image.height]) / 2

    def off_centre(face):
        x, y, w, h = face.box
        return float(np.hypot(x + w / 2 - centre[0], y + h / 2 - centre[1]))

    central = min(analysis.faces, key=off_centre)
    quality = central.quality
    measured = [getattr(quality, name) for name in QUALITY_FIELDS] if quality else [np.nan] * len(QUALITY_FIELDS)
    return central.embedding, np.array(measured, dtype=np.float32)


# The columns of the cached quality of each photo's central face (recognition/quality.py).
QUALITY_FIELDS = ("eye_distance", "sharpness", "yaw", "pitch", "roll")


def _init_worker():
    setup_django()


def embed_paths(paths, workers: int | None = None, progress: bool = True) -> dict[str, np.ndarray | None]:
    """Embedding of the most central face of each photo (None where no face was found)."""
    return {path: vector for path, (vector, _) in _analysed(paths, workers, progress).items()}


def central_quality(paths, workers: int | None = None, progress: bool = True) -> dict[str, np.ndarray | None]:
    """The quality (QUALITY_FIELDS) of the most central face of each photo (None: no face)."""
    return {path: quality for path, (_, quality) in _analysed(paths, workers, progress).items()}


def _analysed(paths, workers: int | None, progress: bool) -> dict[str, tuple]:
    setup_django()
    from django.conf import settings
    from django.utils.text import slugify

    from recognition.service import get_service

    model_key = get_service().model_key
    cache_path = Path(settings.DATA_DIR) / "bench-cache" / f"{slugify(model_key.replace(':', '-'))}-central.npz"
    cache: dict[str, tuple] = {}
    if cache_path.exists():
        with np.load(cache_path, allow_pickle=False) as data:
            if "quality" in data.files:  # a cache from before quality was measured is redone
                for path, vector, quality, found in zip(data["paths"], data["vectors"], data["quality"], data["found"]):
                    cache[str(path)] = (vector, quality) if found else (None, None)
    todo = [str(p) for p in paths if str(p) not in cache]
    if todo:
        workers = workers or os.cpu_count() or 1
        from tqdm import tqdm

        with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
            results = pool.map(_embed_one, todo, chunksize=16)
            for path, found in tqdm(zip(todo, results), total=len(todo), disable=not progress, desc="embedding"):
                cache[path] = found or (None, None)
        dimension = next((len(v) for v, _ in cache.values() if v is not None), 1)
        keys = sorted(cache)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache_path,
            paths=np.array(keys),
            vectors=np.stack([cache[k][0] if cache[k][0] is not None else np.zeros(dimension, np.float32) for k in keys]),
            quality=np.stack([cache[k][1] if cache[k][1] is not None else np.full(len(QUALITY_FIELDS), np.nan, np.float32) for k in keys]),
            found=np.array([cache[k][0] is not None for k in keys]),
        )
    return {str(p): cache[str(p)] for p in paths}
