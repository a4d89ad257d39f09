"""What the performance benchmarks share: the LFW gallery and probe photos, their embeddings,
synthetic vectors to make a gallery larger, bulk insertion of a gallery into the database, and a
description of the machine.

The gallery is 2,000 LFW photos: the first photo of each of the 1,184 people with two or more,
then the first 816 one-photo people (by name). Probes are another photo of people in it, so a
match has a right answer. Real embeddings come from bench/embeddings.py's cache (the configured
pipeline, computed once). Larger galleries are filled with synthetic vectors drawn from a Gaussian
with the mean and covariance of the real gallery embeddings, then L2-normalised: the same spread of
cosine distances as real faces, without the identity clusters real photos form.
"""

import csv
import datetime
import os
import platform
import secrets
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
GALLERY_SIZE = 2000
PROBES = 200


def faces_dir() -> Path:
    return Path(os.environ.get("FACES_DIR", BASE_DIR.parent / "shared" / "faces"))


def lfw_selection(gallery_size: int = GALLERY_SIZE, probes: int = PROBES):
    """Lists of (identity, path): the gallery photos, and probes whose person is in the gallery."""
    manifest = faces_dir() / "lfw" / "manifest.csv"
    photos = defaultdict(list)
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            photos[row["identity"]].append(manifest.parent / row["path"])
    several = [name for name in sorted(photos) if len(photos[name]) > 1]
    single = [name for name in sorted(photos) if len(photos[name]) == 1]
    gallery = [(name, photos[name][0]) for name in several + single][:gallery_size]
    in_gallery = {name for name, _ in gallery}
    candidates = [(name, photos[name][1]) for name in several if name in in_gallery]
    step = max(1, len(candidates) // probes)
    return gallery, candidates[::step][:probes]


def large_samples(min_side: int = 1000, max_side: int = 2400) -> list[tuple[str, Path]]:
    """Single-face sample photos whose longest side is between min_side and max_side."""
    from PIL import Image

    manifest = faces_dir() / "samples" / "manifest.csv"
    found = []
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            path = manifest.parent / row["path"]
            with Image.open(path) as image:
                if min_side <= max(image.size) <= max_side:
                    found.append((row["identity"], path))
    return found


def use_private_data_dir(prefix: str) -> Path:
    """Point this process (and the processes it starts) at a new, empty DATA_DIR, before Django is
    set up, keeping the embedding cache of the DATA_DIR it was given so nothing is embedded twice."""
    given = Path(os.environ.get("DATA_DIR", BASE_DIR / "data")).resolve()
    cache = given / "bench-cache"
    cache.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=prefix))
    (private / "bench-cache").symlink_to(cache, target_is_directory=True)
    os.environ["DATA_DIR"] = str(private)
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["LOG_LEVEL"] = os.environ.get("LOG_LEVEL", "WARNING")
    return private


def real_embeddings(paths, workers: int | None = None) -> dict[str, np.ndarray]:
    """Embeddings of the photos where a face was found (computed once, then read from the cache)."""
    from .embeddings import embed_paths

    found = embed_paths([str(p) for p in paths], workers=workers, progress=sys.stderr.isatty())
    return {path: vector for path, vector in found.items() if vector is not None}


def synthetic_vectors(real: np.ndarray, count: int, seed: int = 0, clusters: int = 1, shrink: float = 0.2) -> np.ndarray:
    """`count` unit vectors from a Gaussian fitted to `real` (rows), float32, made in chunks; with
    `clusters` > 1, from a Gaussian fitted to each of that many k-means clusters of `real` (drawn
    in proportion to their sizes, each covariance shrunk by `shrink` towards the whole set's, as a
    few hundred rows do not fill 512 dimensions), which keeps the real faces' neighbourhoods
    (bench/hnsw_real_faces.py compares them)."""
    import faiss

    rng = np.random.default_rng(seed)
    whole = np.cov(real, rowvar=False)
    if clusters > 1:
        kmeans = faiss.Kmeans(real.shape[1], clusters, niter=25, seed=seed, spherical=True)
        kmeans.train(np.ascontiguousarray(real, dtype=np.float32))
        labels = kmeans.index.search(np.ascontiguousarray(real, dtype=np.float32), 1)[1].ravel()
    else:
        labels = np.zeros(len(real), dtype=np.int64)
    sizes = np.bincount(labels, minlength=clusters)
    # One cluster draws nothing here: the vectors stay those the benchmarks' earlier figures used.
    drawn = rng.choice(clusters, size=count, p=sizes / sizes.sum()) if clusters > 1 else np.zeros(count, dtype=np.int64)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    for cluster in range(clusters):
        members = real[labels == cluster]
        covariance = whole if clusters == 1 else (1 - shrink) * np.cov(members, rowvar=False) + shrink * whole
        where = np.flatnonzero(drawn == cluster)
        for start in range(0, len(where), 100_000):
            rows = where[start : start + 100_000]
            chunk = rng.multivariate_normal(members.mean(axis=0), covariance, size=len(rows), method="cholesky")
            out[rows] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def insert_gallery(names: list[str], vectors: np.ndarray, model_key: str, batch: int = 5000) -> None:
    """One Person with one FaceImage each, written in bulk: the rows enrolment would write (vector
    ids and one generation allocated as `IndexState.allocate_vector` does), without storing photo
    files."""
    from django.db import transaction
    from django.db.models import F

    from recognition.models import FaceVector, IndexState
    from records.models import FaceImage, Person

    for start in range(0, len(names), batch):
        chunk_names, chunk = names[start : start + batch], vectors[start : start + batch]
        with transaction.atomic():
            IndexState.objects.get_or_create(model_key=model_key)
            IndexState.objects.filter(pk=model_key).update(
                next_vector_id=F("next_vector_id") + len(chunk_names), generation=F("generation") + 1
            )
            state = IndexState.objects.values("next_vector_id", "generation").get(pk=model_key)
            first_id = state["next_vector_id"] - len(chunk_names)
            people = Person.objects.bulk_create(Person(name=name) for name in chunk_names)
            face_vectors = FaceVector.objects.bulk_create(
                FaceVector(
                    model_key=model_key,
                    vector_id=first_id + offset,
                    owner_id=person.pk,
                    generation=state["generation"],
                    embedding=np.asarray(vector, dtype=np.float32).tobytes(),
                )
                for offset, (person, vector) in enumerate(zip(people, chunk))
            )
            FaceImage.objects.bulk_create(
                FaceImage(
                    person=person,
                    image=f"faces/{person.pk}/bench.jpg",
                    sha256=secrets.token_hex(32),
                    width=250,
                    height=250,
                    face_box=[70, 70, 110, 110],
                    landmarks={},
                    detection_score=1.0,
                    face_vector=face_vector,
                )
                for person, face_vector in zip(people, face_vectors)
            )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{now}; {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; load average {load}"


def copy_bandwidth(megabytes: int = 256, repeats: int = 7) -> float:
    """Median copy bandwidth of this machine in bytes/s, counted as STREAM does: bytes read plus
    bytes written (2 x the array size) per copy, single thread (numpy copies on one core)."""
    import time

    source = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch every page first
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - started)
    return 2 * source.nbytes / float(np.median(times))


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def save_log_log_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """Both axes logarithmic, labelled, gridded and with a legend, as the benchmarks' size plots
    are drawn (bench/scale.py, bench/latency.py); saves `fig` to `path`."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
