"""ONNX export of the paper's scene network: export time, file size, inference.

Fits ``make_pipeline(STFTTransformer(), SceneClassifier())`` at 44.1 kHz (256
filters, 552 bins, 15 classes; one epoch on noise: the weights do not matter
here), exports it with :func:`sklearn_allconv.export.export_onnx`, and times
onnxruntime against the library's ``predict_proba`` on one thread, on clips of
10 s and 30 s, the two interleaved, median of ``--repeats`` runs. Also prints
the largest differences of ``proba`` and ``embedding`` from ``predict_proba``
and ``transform``. Needs the ``onnx`` extra.

Run ``python benchmarks/bench_onnx.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import onnxruntime
import torch
from sklearn.pipeline import make_pipeline

from sklearn_allconv import SceneClassifier, STFTTransformer
from sklearn_allconv.export import export_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(44100)).astype(np.float32) for _ in range(16)]
    pipe = make_pipeline(
        STFTTransformer(),
        SceneClassifier(max_epochs=1, train_split=None, random_state=0, n_threads=1),
    ).fit(clips, [str(i % 15) for i in range(16)])
    results: dict[str, float] = {"load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "scenes.onnx")
        start = time.perf_counter()
        export_onnx(pipe, path)
        results["export_s"] = time.perf_counter() - start
        results["size_mb"] = os.path.getsize(path) / 1e6
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options)
    for seconds in (10, 30):
        audio = (0.1 * rng.standard_normal((1, 44100 * seconds))).astype(np.float32)
        feed = {"audio": audio, "lengths": np.array([audio.shape[1]])}
        onnx_times, library_times = [], []
        for _ in range(args.repeats + 1):  # the first is a warm-up
            start = time.perf_counter()
            outputs = session.run(None, feed)
            onnx_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            proba = pipe.predict_proba(audio)
            library_times.append(time.perf_counter() - start)
        results[f"{seconds}s_onnxruntime_s"] = float(np.median(onnx_times[1:]))
        results[f"{seconds}s_library_s"] = float(np.median(library_times[1:]))
        results[f"{seconds}s_proba_max_diff"] = float(np.abs(outputs[0] - proba).max())
        embedding = pipe.transform(audio)
        results[f"{seconds}s_embedding_max_diff"] = float(
            np.abs(outputs[1] - embedding).max()
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
