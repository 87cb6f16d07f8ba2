"""benchmarks/gpu_check.py runs (on the CPU, small sizes) and reports honestly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    output = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--small", "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(output.read_text())


def test_gpu_check_reports_rates_and_epochs_of_every_precision(report):
    assert set(report["matmul_tflops"]) == {"bfloat16", "float32"}
    runs = report["training"]
    assert [(run["precision"], run["data_on_device"]) for run in runs] == [
        ("float32", "auto"),
        ("bfloat16", "auto"),
        ("float16", "auto"),
        ("bfloat16", False),
    ]
    for run in runs:
        assert "error" not in run
        assert len(run["epoch_seconds"]) == report["sizes"]["epochs"]
        assert run["median_epoch_seconds"] > 0
        assert run["tflop_per_epoch"] > 0
        assert 0 < run["fraction_of_bfloat16_matmul"]
    # "auto" keeps the clips on the device only on CUDA.
    assert not any(run["clips_kept_on_device"] for run in runs)
    assert set(report["inference_clips_per_second"]) == {"float32", "bfloat16"}


def test_gpu_check_correctness_checks_pass_on_the_cpu(report):
    assert set(report["checks"]) == {
        "batch_independence_bfloat16",
        "determinism_float32",
        "determinism_bfloat16",
        "saved_model_loads_on_cpu",
    }
    failed = {k: v for k, v in report["checks"].items() if not v["passed"]}
    assert not failed
    assert report["all_checks_passed"]
    independence = report["checks"]["batch_independence_bfloat16"]
    assert independence["padded_to_frames"] > independence["short_frames"]
