"""Cost of identifying every face of a photo (POST /records/match with faces=all), by face count.

    python -m bench.every_face                      # photos of 1, 5 and 20 faces, 1,000 people enrolled
    python -m bench.every_face --faces 1,5,20 --requests 20

The photos are composites of LFW portraits of different people (tests/images.py `tiled`, 160 px a
face, five to a row), so every face is found and the count is exact. The gallery is the first
--gallery real LFW embeddings of bench/galleries.py, in a new DATA_DIR. Measured in this process:
`records.usecases.matching.match(..., all_faces=True)` end to end (decode, detect, align, embed, search,
name assignment, audit row), p50 over --requests, and the recogniser alone on the same faces'
crops, embedded one call per face against one batch for all of them. Writes bench/every_face.json.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from tests.images import tiled

from . import galleries


def timed(functions: dict, repeats: int) -> dict[str, float]:
    """Median milliseconds of each function over `repeats` rounds, after a warm-up round. Each
    round calls every function in turn, so a change in the machine's load falls on all of them."""
    times = {name: [] for name in functions}
    for round_number in range(repeats + 1):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            if round_number:
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: float(np.median(values)) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", default="1,5,20")
    parser.add_argument("--gallery", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--json", default="bench/every_face.json")
    args = parser.parse_args()
    data_dir = galleries.use_private_data_dir("bench-every-face-")
    try:
        results = measure(args, [int(n) for n in args.faces.split(",")])
    finally:
        shutil.rmtree(data_dir)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))


def measure(args, counts: list[int]) -> dict:
    from .embeddings import setup_django

    setup_django()
    from django.core.management import call_command

    from recognition.imaging import decode_image
    from recognition.service import get_service
    from records.usecases import matching

    call_command("migrate", verbosity=0)
    service = get_service()
    service.load()
    gallery, _ = galleries.lfw_selection(gallery_size=args.gallery)
    embeddings = galleries.real_embeddings([path for _, path in gallery])
    enrolled = [(name, path) for name, path in gallery if str(path) in embeddings]
    galleries.insert_gallery(
        [name for name, _ in enrolled], np.stack([embeddings[str(p)] for _, p in enrolled]), service.model_key
    )
    # Faces shown: enrolled people's gallery photos, one person per tile.
    portraits = [path.read_bytes() for _, path in enrolled[: max(counts)]]
    pipeline = service.pipeline
    results = {"machine": galleries.machine(), "gallery": len(enrolled), "requests": args.requests, "photos": []}
    for count in counts:
        photo = tiled(portraits[:count], columns=5)
        answer = matching.match(photo, 5, all_faces=True)
        assert len(answer.results) == count, f"{len(answer.results)} faces found of {count}"
        # The recogniser alone, on the crops the pipeline aligns: one call per face, or one batch.
        rgb = decode_image(photo).rgb
        _, _, landmarks = pipeline.detect(rgb)
        aligned = [pipeline.align(rgb, points) for points in landmarks]
        medians = timed(
            {
                "match": lambda: matching.match(photo, 5, all_faces=True),
                "one_call_per_face": lambda: [pipeline.embed([face]) for face in aligned],
                "one_batch": lambda: pipeline.embed(aligned),
            },
            args.requests,
        )
        named = sum(face.recognized for face in answer.results)
        results["photos"].append({
            "faces": count, "size": list(rgb.shape[1::-1]), "named": named,
            "match_p50_ms": round(medians["match"], 1), "match_per_face_ms": round(medians["match"] / count, 1),
            "embed_one_call_per_face_ms": round(medians["one_call_per_face"], 1),
            "embed_one_batch_ms": round(medians["one_batch"], 1),
        })
        print(results["photos"][-1], flush=True)
    return results


def report(results: dict) -> str:
    lines = [
        f"faces=all on {results['machine']}, {results['gallery']:,} people enrolled, p50 of {results['requests']}",
        "",
        "| faces | photo | named | match p50 | per face | embedding: a call per face | one batch |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["photos"]:
        lines.append(
            f"| {row['faces']} | {row['size'][0]}x{row['size'][1]} | {row['named']}/{row['faces']} "
            f"| {row['match_p50_ms']:.0f} ms | {row['match_per_face_ms']:.1f} ms "
            f"| {row['embed_one_call_per_face_ms']:.0f} ms | {row['embed_one_batch_ms']:.0f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
