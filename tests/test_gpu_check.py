"""`make gpu-check` (benchmarks/gpu_check.py): on a machine without CUDA it says so and exits 0, and its
speed table, measured here on CPU at a tiny size, gives archzoo / torchvision ratios from the same
measurement code the GPU run uses."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch

from tasks.bench.measure import Settings

REPO = Path(__file__).resolve().parents[1]


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: make gpu-check runs the checks")
def test_make_gpu_check_says_there_is_no_gpu_and_succeeds() -> None:
    done = subprocess.run(["make", "-s", "gpu-check"], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device on this machine; nothing to check" in done.stdout


def test_the_speed_table_compares_archzoo_with_torchvision() -> None:
    rows = _gpu_check().speed_table(Settings("cpu", "bf16-mixed", channels_last=True), ("resnet18",), 2, 32, 2)
    (row,) = rows
    assert row["model"] == "resnet18"
    assert row["archzoo train img/s"] > 0 and row["torchvision train img/s"] > 0
    assert 0.1 < row["train ratio"] < 10 and 0.1 < row["infer ratio"] < 10
