"""int8 versions of the default recogniser (w600k_mbf) made with onnxruntime's quantisation tools:
their speed against float32, and how far their embeddings move, on LFW crops.

    python -m bench.int8                 # ~2 minutes on a free machine

onnxruntime's quantisation needs the `onnx` package, which the service does not; it runs in the
virtual environment bench/peer.py creates for insightface (which depends on `onnx`), so nothing is
added to the project's own requirements. This process aligns 96 LFW photos with the default
pipeline (the crops the recogniser sees, normalised as it normalises them); the first 64 calibrate
the static model, the other 32 are held out. In the other environment:
- dynamic: `quantize_dynamic` (uint8 weights, activations quantised at run time), after
  `quant_pre_process`;
- static: `quantize_static`, QDQ format, per-tensor (the model's opset 11 has no per-axis
  DequantizeLinear), uint8 activations and int8 weights calibrated on the 64 crops.
Each model runs on one thread, as the service's; batches of two crops (a crop and its mirror
image), interleaved, medians of --repeat runs; then the cosine similarity of every held-out crop's
int8 embedding to its float32 one.
"""

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CALIBRATION_CROPS = 64


def quantise_and_measure(folder: Path, source: Path, repeat: int) -> dict:
    """Runs in the environment with `onnx` (imports nothing of the project)."""
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    crops = np.load(folder / "crops.npy")
    calibration, held_out = crops[:CALIBRATION_CROPS], crops[CALIBRATION_CROPS:]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3

    def session(path):
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    float32 = session(source)
    name = float32.get_inputs()[0].name

    class Crops(CalibrationDataReader):
        def __init__(self):
            self.feed = iter([{name: crop[None]} for crop in calibration])

        def get_next(self):
            return next(self.feed, None)

    prepared = folder / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(str(prepared), str(folder / "dynamic.onnx"), weight_type=QuantType.QUInt8)
    quantize_static(
        str(prepared), str(folder / "static.onnx"), Crops(), quant_format=QuantFormat.QDQ, per_channel=False,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
    )
    models = {"float32": float32, "dynamic": session(folder / "dynamic.onnx"), "static": session(folder / "static.onnx")}
    pair = held_out[:2]
    times = {label: [] for label in models}
    for model in models.values():
        model.run(None, {name: pair})
    for _ in range(repeat):
        for label, model in models.items():
            started = time.perf_counter()
            model.run(None, {name: pair})
            times[label].append(1000 * (time.perf_counter() - started))

    def embeddings(model):
        vectors = np.concatenate([model.run(None, {name: crop[None]})[0] for crop in held_out])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    reference = embeddings(float32)
    result = {"ms_per_two_crops": {label: float(np.median(values)) for label, values in times.items()}}
    for label in ("dynamic", "static"):
        cosine = (embeddings(models[label]) * reference).sum(axis=1)
        result[f"{label}_cosine_to_float32"] = {"median": float(np.median(cosine)), "min": float(cosine.min())}
    return result


def lfw_crops(count: int) -> np.ndarray:
    """The aligned crops of `count` LFW photos spread over the manifest, as the recogniser's input."""
    from recognition.imaging import decode_image
    from recognition.service import get_service

    from .galleries import faces_dir

    pipeline = get_service().pipeline
    manifest = faces_dir() / "lfw" / "manifest.csv"
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    crops = []
    for row in rows[:: len(rows) // (count + 8)]:
        rgb = decode_image((manifest.parent / row["path"]).read_bytes()).rgb
        _, _, landmarks = pipeline.detect(rgb)
        if len(landmarks):
            crops.append(pipeline.align(rgb, landmarks[0]).crop)
        if len(crops) == count:
            break
    return ((np.stack(crops).astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default="bench/int8.json")
    parser.add_argument("--measure-in", help=argparse.SUPPRESS)  # internal: the folder, in the other environment
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_in:
        print(json.dumps(quantise_and_measure(Path(args.measure_in), Path(args.source), args.repeat)))
        return

    from . import galleries
    from .embeddings import setup_django
    from .peer import insightface_venv

    setup_django()
    from django.conf import settings

    from recognition.backends.insightface_onnx import WEIGHT_FILES, weights_dir

    python = insightface_venv(Path(settings.DATA_DIR) / "bench-cache")
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as folder:
        np.save(Path(folder) / "crops.npy", lfw_crops(CALIBRATION_CROPS + 32))
        done = subprocess.run(
            [str(python), __file__, "--measure-in", folder, "--source", str(weights_dir() / WEIGHT_FILES["recogniser"]),
             "--repeat", str(args.repeat)],
            check=True, capture_output=True, text=True, timeout=1800,
        )
    result = {"machine": galleries.machine(), **json.loads(done.stdout.strip().splitlines()[-1])}
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
