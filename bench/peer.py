"""This service's match against DeepFace's own gallery search, same photos, same model, same run.

    python -m bench.peer            # about 10 minutes the first time (DeepFace embeds its gallery), then 2

Gallery: the 2,000 LFW photos of bench/galleries.py. Queries: other photos of people in it.

DeepFace side: `DeepFace.find(img_path=<file>, db_path=<folder of the 2,000 photos>,
model_name="Dlib", detector_backend="dlib", distance_metric="cosine")`, otherwise its defaults
(npz datastore, refresh_database=True, pandas result, silent=True so it does not log). Its
datastore is built by the first call (timed separately, then kept under the embedding cache so a
re-run reuses it). DeepFace loads weights from $DEEPFACE_HOME/.deepface/weights: the files are
copied there from the face_recognition_models package, the same ones this service loads. DeepFace
runs with DEEPFACE_BACKEND_ENGINE=onnx: its Dlib model and dlib detector use no engine, and this
keeps TensorFlow from being imported (it would not change per-query time, only memory).
Also timed: `DeepFace.find` with its fastest documented options (refresh_database=False,
return_type="dict"), and `DeepFace.represent` alone (detect + embed, no search).

This service's side: `records.services.match(<bytes of the file>, top_k=5)`, the function the
REST API calls: decode, HOG detection (CNN fallback), 5-point chip, ResNet on the chip and its
mirror image, FAISS search of the process's index, one query for the matched people. The gallery
rows hold the embeddings this pipeline computes for the same photos (bench/embeddings.py cache),
inserted in bulk (bench/galleries.insert_gallery). Also timed: the pipeline alone (decode + analyse).

Every query is timed on each side in turn, after three warm-up queries per side, in one process.
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from . import galleries

MODEL, DETECTOR = "Dlib", "dlib"
WEIGHTS = ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat")


def prepare_deepface(cache: Path, gallery) -> Path:
    """A folder holding copies of the gallery photos, and DeepFace's weights; returns the folder."""
    from recognition.backends.dlib_native import weights_dir

    home = cache / "deepface-home"
    weights = home / ".deepface" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for name in WEIGHTS:
        if not (weights / name).exists():
            shutil.copy2(weights_dir() / name, weights / name)
    os.environ["DEEPFACE_HOME"] = str(home)
    os.environ["DEEPFACE_BACKEND_ENGINE"] = "onnx"
    folder = cache / f"deepface-gallery-{len(gallery)}"
    for _, path in gallery:
        target = folder / path.parent.name / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return folder


def identity_of(deepface_result) -> str | None:
    frame = deepface_result[0]
    if isinstance(frame, list):
        return Path(frame[0]["identity"]).parent.name if frame else None
    return Path(frame.iloc[0]["identity"]).parent.name if len(frame) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="times each query is timed on each side")
    parser.add_argument("--json", default="bench/peer.json")
    args = parser.parse_args()

    data_dir = galleries.use_private_data_dir("bench-peer-")
    try:
        measure(args, data_dir)
    finally:
        shutil.rmtree(data_dir)  # the embedding cache, and DeepFace's gallery in it, are behind a symlink


def measure(args, data_dir: Path) -> None:
    from .embeddings import setup_django

    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from recognition.imaging import decode_image
    from recognition.service import get_service
    from records.services import match

    gallery, probes = galleries.lfw_selection()
    probes = probes[:: max(1, len(probes) // args.queries)][: args.queries]
    embeddings = galleries.real_embeddings([p for _, p in gallery + probes])
    service = get_service()
    enrolled = [(name, path) for name, path in gallery if str(path) in embeddings]
    galleries.insert_gallery(
        [name for name, _ in enrolled], np.stack([embeddings[str(p)] for _, p in enrolled]), service.model_key
    )
    service.load()

    folder = prepare_deepface((data_dir / "bench-cache").resolve(), gallery)
    from deepface import DeepFace

    def deepface_find(path, **options):
        return DeepFace.find(
            img_path=str(path), db_path=str(folder), model_name=MODEL, detector_backend=DETECTOR,
            distance_metric="cosine", silent=True, **options,
        )

    started = time.perf_counter()
    deepface_find(probes[0][1])  # builds the datastore when it is missing
    datastore_build_s = time.perf_counter() - started
    datastore = next(folder.glob("ds_model_dlib_*.npz"))
    with np.load(datastore, allow_pickle=False) as stored:
        deepface_vectors = int(stored["has_embedding"].sum())

    sides = {
        "deepface_find": lambda path: deepface_find(path),
        "deepface_find_fastest": lambda path: deepface_find(path, refresh_database=False, return_type="dict"),
        "deepface_represent": lambda path: DeepFace.represent(
            img_path=str(path), model_name=MODEL, detector_backend=DETECTOR
        ),
        "service_match": lambda path: match(path.read_bytes(), 5),
        "service_pipeline": lambda path: service.analyse(decode_image(path.read_bytes())),
    }
    for _, path in probes[:3]:
        for run in sides.values():
            run(path)
    times = {side: [] for side in sides}
    answers = {"deepface_find": [], "service_match": []}
    for round_number in range(args.rounds):
        for name, path in probes:
            for side, run in sides.items():
                started = time.perf_counter()
                result = run(path)
                times[side].append(time.perf_counter() - started)
                if round_number == 0 and side in answers:
                    found = identity_of(result) if side == "deepface_find" else (
                        result["top_matches"][0]["name"] if result["top_matches"] else None
                    )
                    answers[side].append(found == name)

    median = {side: 1000 * float(np.median(values)) for side, values in times.items()}
    paired = np.array(times["deepface_find"]) / np.array(times["service_match"])
    summary = {
        "machine": galleries.machine(),
        "gallery_photos": len(gallery),
        "service_vectors": len(enrolled),
        "deepface_datastore_rows": deepface_vectors,
        "deepface_datastore_build_s": datastore_build_s,
        "queries": len(probes),
        "rounds": args.rounds,
        "median_ms": median,
        "p90_ms": {side: 1000 * galleries.percentile(values, 90) for side, values in times.items()},
        "ratio_find_over_match": median["deepface_find"] / median["service_match"],
        "ratio_paired_median": float(np.median(paired)),
        "ratio_fastest_find_over_match": median["deepface_find_fastest"] / median["service_match"],
        "search_overhead_ms": {
            "deepface": median["deepface_find"] - median["deepface_represent"],
            "service": median["service_match"] - median["service_pipeline"],
        },
        # A check that both sides search the same people: the nearest person is the probe's (ours),
        # the nearest photo within DeepFace's pre-tuned threshold is of the probe's person (DeepFace).
        "rank1_correct": {side: float(np.mean(values)) for side, values in answers.items()},
    }
    Path(args.json).write_text(json.dumps(summary, indent=1))
    print(f"machine: {summary['machine']}")
    print(
        f"gallery: {len(gallery)} photos; service index {len(enrolled)} vectors; DeepFace datastore "
        f"{deepface_vectors} rows (built in {datastore_build_s:.0f} s by the first find)"
    )
    print(f"{len(probes)} queries x {args.rounds} rounds, medians per query:")
    for side, value in median.items():
        print(f"  {side:24s} {value:8.1f} ms  (p90 {summary['p90_ms'][side]:.1f})")
    print(
        f"DeepFace.find / service match: {summary['ratio_find_over_match']:.2f}x "
        f"(median of paired ratios {summary['ratio_paired_median']:.2f}x); "
        f"fastest find options: {summary['ratio_fastest_find_over_match']:.2f}x"
    )
    print(
        f"search beyond detect+embed: DeepFace {summary['search_overhead_ms']['deepface']:.1f} ms, "
        f"service {summary['search_overhead_ms']['service']:.1f} ms"
    )
    print(f"rank-1 correct: {summary['rank1_correct']}")


if __name__ == "__main__":
    main()
