"""The CUDA paths, run where a CUDA device is present and skipped elsewhere (`make gpu-check` runs
them): a model on cuda, one `zoo fit` step per task at 16-mixed and at bf16-mixed with channels_last,
and a bench cell with ``--device cuda``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import zoo
from tasks.bench.cli import main as bench
from tasks.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

TINY = {
    "classification": ["--config", "classification/resnet"],
    "segmentation": ["--config", "segmentation/unet", "--model.init_args.model_kwargs", "{base_width: 8}"],
    "pose": ["--config", "pose/hourglass", "--model.init_args.model_kwargs", "{channels: 16, depth: 2}"],
}
SMALL = ["--data.init_args.train_size", "16", "--data.init_args.val_size", "8", "--data.init_args.batch_size", "8"]
QUIET = ["--data.init_args.num_workers", "0", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "unet_same", "hourglass1"])
def test_create_model_runs_on_cuda(name: str) -> None:
    net = zoo.create_model(name).cuda().eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64, device="cuda"))
    out = out[-1] if isinstance(out, list) else out
    assert out.is_cuda and torch.isfinite(out).all()


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
@pytest.mark.parametrize("task", list(TINY))
def test_one_fit_step_per_task_on_cuda(tmp_path: Path, task: str, precision: str) -> None:
    root = tmp_path / "run"
    main(
        ["fit", *TINY[task], *SMALL, *QUIET, "--trainer.default_root_dir", str(root), "--trainer.max_steps", "1"]
        + ["--trainer.accelerator", "cuda", "--trainer.devices", "1", "--trainer.precision", precision]
        + ["--model.init_args.channels_last", str(precision == "bf16-mixed").lower()]
    )
    state = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 1
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_a_bench_cell_runs_on_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    preset = tmp_path / "cuda.yaml"
    preset.write_text(
        "description: one cell on cuda\n"
        "defaults: {steps: 2, train_size: 8, val_size: 4, num_workers: 0, batch_size: 4, image_size: 32}\n"
        "timing: {warmup: 1, repeats: 2}\n"
        "cells:\n  - {model: resnet20, task: classification, model_kwargs: {widths: [4, 4, 8]}}\n"
    )
    bench(["--preset", str(preset), "--out", str(tmp_path / "bench"), "--device", "cuda", "--precision", "16-mixed"])
    (row,) = csv.DictReader((tmp_path / "bench" / "leaderboard.csv").open())
    assert row["status"] == "ok" and float(row["train_ips"]) > 0 and float(row["peak_mem_mb"]) > 0
