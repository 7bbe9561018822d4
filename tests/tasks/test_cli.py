"""The `zoo` command end to end on the built-in synthetic sets: real fits in subprocesses, read back from
disk and from the offline W&B run's own records (no mocked wandb). `test_cli_own_data` does the same on
a user's files."""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tasks.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "classification": ["--config", str(REPO / "configs/classification/resnet.yaml")],
    "segmentation": [
        "--config",
        str(REPO / "configs/segmentation/unet.yaml"),
        "--model.init_args.model_kwargs",
        "{base_width: 4}",
    ],
    "pose": [
        "--config",
        str(REPO / "configs/pose/hourglass.yaml"),
        "--model.init_args.model_kwargs",
        "{channels: 16, depth: 2}",
    ],
}


def tiny_fit(zoo, task: str, root: Path, *more: str, epochs: int = 1) -> subprocess.CompletedProcess:
    return zoo(
        [
            "fit",
            *TINY[task],
            "--trainer.default_root_dir",
            str(root / "run"),
            "--trainer.max_epochs",
            str(epochs),
            "--data.init_args.train_size",
            "32",
            "--data.init_args.val_size",
            "16",
            "--data.init_args.batch_size",
            "8",
            "--data.init_args.num_workers",
            "0",
            "--trainer.log_every_n_steps",
            "1",
            *more,
        ],
        root,
    )


def history_keys(logged: dict) -> set[str]:
    return {k for row in logged["history"] for k in row}


@pytest.mark.parametrize(
    ("task", "metric", "media"),
    [
        ("classification", "val/acc1", "val/confusion_matrix_table._type"),
        ("segmentation", "val/miou", "val/predictions.all_masks"),
        ("pose", "val/pck", "val/predictions._type"),
    ],
)
def test_fit_logs_to_offline_wandb_and_predict_writes_the_predictions(
    zoo, tmp_path: Path, task: str, metric: str, media: str
) -> None:
    proc = tiny_fit(zoo, task, tmp_path)
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert any(row.get(metric) for row in zoo.metrics(run)), "the metric is missing from the local CSV"
    logged = zoo.wandb(run)
    keys = history_keys(logged)
    assert {metric, "val/loss", "train/loss_epoch", media, "val/predictions._type"} <= keys
    values = [row[metric] for row in logged["history"] if metric in row]
    assert values and all(0.0 <= v <= 1.0 for v in values)
    assert logged["config"]["model/params"] > 0 and logged["config"]["model/gflops"] > 0
    assert (
        logged["config"]["model"]
        == torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["model"]
    )
    assert "GFLOPs per" in proc.stdout + proc.stderr  # the model summary at start

    # zoo predict, in this process (the command's own entry point): the validation split by default
    args = [*TINY[task], "--trainer.default_root_dir", str(run), "--data.init_args.val_size", "12"]
    main(
        [
            "predict",
            *args,
            "--data.init_args.num_workers",
            "0",
            "--trainer.logger",
            "false",
            "--ckpt_path",
            str(run / "checkpoints" / "best.ckpt"),
        ]
    )
    predictions = load_file(run / "predictions.safetensors")
    assert predictions["index"].tolist() == list(range(12))  # every image of the predict set, in order
    if task == "classification":
        rows = (run / "predictions.csv").read_text().splitlines()
        assert rows[0] == "file,label,class_name,probability" and len(rows) == 13
        assert rows[1].startswith("000000,") and set(predictions) == {"probs", "labels", "index"}
    elif task == "segmentation":
        assert set(predictions) == {"mask", "index"}
        assert predictions["mask"].shape == (12, 64, 64) and int(predictions["mask"].max()) < 6
        png = Image.open(run / "masks" / "000011.png")  # the synthetic scenes are made at the input's size
        assert png.mode == "P" and png.size == (64, 64) and np.asarray(png).max() < 6
    else:
        assert set(predictions) == {"keypoints", "scores", "image_keypoints", "index"}
        assert predictions["keypoints"].shape == (12, 15, 2)
        assert torch.allclose(predictions["image_keypoints"], predictions["keypoints"])  # no crop
        results = json.loads((run / "predictions.json").read_text())
        assert [r["image_id"] for r in results] == list(range(12)) and len(results[0]["keypoints"]) == 45


def test_resume_from_last_continues_the_run(zoo, tmp_path: Path) -> None:
    tiny_fit(zoo, "classification", tmp_path, epochs=1)
    first = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    tiny_fit(zoo, "classification", tmp_path, "--ckpt_path", "last", epochs=2)
    second = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert second["global_step"] == 2 * first["global_step"]
    resumed_rows = zoo.metrics(tmp_path / "run")
    assert {row["epoch"] for row in resumed_rows if row.get("val/acc1")} == {"1"}  # epoch 0 was not redone


@pytest.mark.parametrize("ckpt_path", ["file", "last"])
def test_fit_refuses_a_checkpoint_that_would_run_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: object, ckpt_path: str
) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's own default is off: archzoo must refuse
    run = tmp_path / "run"
    crafted = tmp_path / "sent.ckpt" if ckpt_path == "file" else run / "checkpoints" / "last.ckpt"
    crafted.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6.6", "loops": payload}, crafted)
    args = [*TINY["classification"], "--trainer.default_root_dir", str(run), "--trainer.logger", "false"]
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed|Refused to load") as error:
        main(["fit", *args, "--ckpt_path", str(crafted) if ckpt_path == "file" else "last"])
    if ckpt_path == "file":
        assert f"Refused to load {crafted}" in str(error.value) and "safetensors" in str(error.value)
    assert not payload.marker.exists()


def test_print_config_and_unknown_key(zoo, tmp_path: Path) -> None:
    printed = zoo(["fit", *TINY["classification"], "--print_config"], tmp_path)
    assert "class_path: tasks.ClassificationTask" in printed.stdout and "model: resnet20" in printed.stdout
    bad = zoo(["fit", *TINY["classification"], "--model.init_args.lrr", "0.1"], tmp_path, check=False)
    assert bad.returncode != 0 and "lrr" in bad.stderr


def test_ddp_two_processes_matches_one_process(zoo, tmp_path: Path) -> None:
    """2 CPU processes with half the batch each train like 1 process with the full batch."""
    common = [
        "--data.init_args.train_size",
        "256",
        "--data.init_args.val_size",
        "128",
        "--trainer.max_epochs",
        "2",
        "--data.init_args.num_workers",
        "0",
        "--model.init_args.warmup_steps",
        "0",
        "--model.init_args.lr",
        "0.02",  # at 0.1 without warm-up both runs are still random after 2 epochs: their metrics are noise
    ]
    single, double = tmp_path / "single", tmp_path / "ddp"
    zoo(
        [
            "fit",
            *TINY["classification"],
            *common,
            "--trainer.default_root_dir",
            str(single),
            "--data.init_args.batch_size",
            "32",
        ],
        tmp_path,
    )
    zoo(
        [
            "fit",
            *TINY["classification"],
            *common,
            "--trainer.default_root_dir",
            str(double),
            "--data.init_args.batch_size",
            "16",
            "--trainer.strategy",
            "ddp",
            "--trainer.devices",
            "2",
            "--trainer.accelerator",
            "cpu",
        ],
        tmp_path,
    )
    one, two = zoo.metrics(single), zoo.metrics(double)
    steps = [max(int(r["step"]) for r in rows) for rows in (one, two)]
    assert steps[0] == steps[1]  # 2 x 16 per step = 32: the data really was split over 2 processes
    acc = [float([r["val/acc1"] for r in rows if r.get("val/acc1")][-1]) for rows in (one, two)]
    loss = [float([r["val/loss"] for r in rows if r.get("val/loss")][-1]) for rows in (one, two)]
    assert abs(acc[0] - acc[1]) <= 0.1, acc
    assert abs(loss[0] - loss[1]) <= 0.15 * loss[0], loss


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    main(["models", "--pattern", "resnet2*"])
    out = capsys.readouterr().out
    assert "| resnet20 |" in out and "269,722" in out and "| resnet200 |" in out and "resnet18" not in out


def test_unknown_command_prints_usage() -> None:
    with pytest.raises(SystemExit, match="usage: zoo"):
        main(["frobnicate"])


@pytest.mark.parametrize("task", list(TINY))
def test_a_bf16_channels_last_step_trains_on_cpu(tmp_path: Path, task: str) -> None:
    """The GPU settings (bf16 autocast, NHWC) run on CPU: each task takes one optimiser step with them,
    and keeps float32 weights in NHWC order."""
    root = tmp_path / "run"
    more = ["--data.init_args.train_size", "8", "--data.init_args.val_size", "4", "--data.init_args.batch_size", "4"]
    quiet = ["--data.init_args.num_workers", "0", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    main(
        ["fit", *TINY[task], *more, *quiet, "--trainer.default_root_dir", str(root), "--trainer.max_steps", "1"]
        + ["--trainer.precision", "bf16-mixed", "--model.init_args.channels_last", "true"]
    )
    state = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 1 and state["hyper_parameters"]["channels_last"] is True
    assert state["optimizer_states"][0]["state"], "no optimiser step was taken"
    first_conv = next(v for k, v in state["state_dict"].items() if v.ndim == 4)
    assert first_conv.is_contiguous(memory_format=torch.channels_last) and first_conv.dtype == torch.float32
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
