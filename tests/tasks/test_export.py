"""Tests for tasks.export (`zoo export`): the network of a real Lightning checkpoint of each task, as
safetensors that `zoo.load_model` rebuilds with identical outputs; a checkpoint that would
run code when unpickled is refused, naming the file, and runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import zoo
from tasks import ClassificationTask, PoseTask, SegmentationTask
from tasks.cli import main as zoo_main
from tasks.data import ClassificationData, PoseData, SegmentationData
from tasks.export import export_checkpoint, main
from zoo import load_model
from zoo.weights import read_metadata

DATA = {"image_size": 32, "batch_size": 4, "train_size": 4, "val_size": 4}
TASKS = {
    "classification": (lambda: ClassificationTask(model="resnet20"), ClassificationData),
    "segmentation": (
        lambda: SegmentationTask(model="unet_same", model_kwargs={"base_width": 4, "depth": 2}),
        SegmentationData,
    ),
    "pose": (lambda: PoseTask(model="hourglass1", model_kwargs={"channels": 16, "depth": 2}), PoseData),
}


def fitted_checkpoint(task_name: str, path: Path) -> pl.LightningModule:
    """Train ``task_name`` for one step on its synthetic data and save the checkpoint at ``path``."""
    make_task, data_class = TASKS[task_name]
    torch.manual_seed(0)
    task = make_task()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=data_class(**DATA))
    trainer.save_checkpoint(path)
    return task.eval()


def outputs(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("task_name", list(TASKS))
def test_export_rebuilds_the_trained_network_with_identical_outputs(tmp_path, task_name):
    task = fitted_checkpoint(task_name, tmp_path / "last.ckpt")
    out = export_checkpoint(tmp_path / "last.ckpt", tmp_path / "net.safetensors", task=task_name)
    metadata = read_metadata(out)
    assert metadata["archzoo.model"] == task.model_name and metadata["archzoo.task"] == task_name
    rebuilt = load_model(out).eval()
    x = torch.randn(2, 3, 32, 32)
    expected, actual = outputs(task.net, x), outputs(rebuilt, x)
    assert len(actual) == len(expected) and all(torch.equal(a, e) for a, e in zip(actual, expected, strict=True))
    options = json.loads(metadata["archzoo.model_kwargs"])
    fresh = outputs(zoo.create_model(task.model_name, task=task_name, **options).eval(), x)  # same model, new weights
    assert not all(torch.equal(a, f) for a, f in zip(actual, fresh, strict=True))


def test_zoo_export_of_a_zoo_fit_checkpoint_needs_no_task(tmp_path, capsys):
    run = tmp_path / "run"
    zoo_main(
        ["fit", "--config", str(Path(__file__).parents[2] / "configs/classification/resnet.yaml")]
        + ["--trainer.default_root_dir", str(run), "--trainer.logger", "false", "--trainer.max_steps", "1"]
        + ["--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"]
        + [f"--data.init_args.{key}={value}" for key, value in DATA.items()]
    )
    zoo_main(["export", str(run / "checkpoints/last.ckpt"), str(tmp_path / "resnet.safetensors")])
    assert f"wrote {tmp_path / 'resnet.safetensors'}" in capsys.readouterr().out
    task = ClassificationTask.load_from_checkpoint(run / "checkpoints/last.ckpt", weights_only=True).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(outputs(load_model(tmp_path / "resnet.safetensors").eval(), x)[0], outputs(task.net, x)[0])
    with pytest.raises(SystemExit, match="ClassificationTask checkpoint .classification.; --task pose contradicts"):
        main([str(run / "checkpoints/last.ckpt"), str(tmp_path / "x.safetensors"), "--task", "pose"])


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, payload):
    crafted = tmp_path / "sent.ckpt"
    hparams = {"model": "resnet20", "num_classes": 10, "_class_path": "tasks.ClassificationTask"}
    state = ClassificationTask(model="resnet20", num_classes=10).state_dict()
    torch.save({"state_dict": state, "hyper_parameters": hparams, "loops": payload}, crafted)
    with pytest.raises(SystemExit) as error:
        main([str(crafted), str(tmp_path / "out.safetensors")])
    message = str(error.value)
    assert message.startswith(f"zoo export: Refused to load {crafted}") and "weights_only=True" in message
    assert "trust" in message and "safetensors" in message
    assert not payload.marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_what_cannot_be_exported_says_why(tmp_path):
    task = ClassificationTask(model="resnet20", num_classes=10)
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": {"model": "resnet20", "num_classes": 10}}, bare)
    with pytest.raises(SystemExit, match="does not record its task class.*pass --task"):
        main([str(bare), str(tmp_path / "out.safetensors")])
    with pytest.raises(SystemExit, match=r"Cannot tell the format of out.pt: name it \*.safetensors, \*.onnx"):
        main([str(bare), str(tmp_path / "out.pt"), "--task", "classification"])
    weights_only = tmp_path / "weights.pt"
    torch.save(task.net.state_dict(), weights_only)
    with pytest.raises(SystemExit, match="weights.pt is not a checkpoint of a zoo task"):
        main([str(weights_only), str(tmp_path / "out.safetensors")])
    with pytest.raises(SystemExit, match=r"does not fit resnet20 \(segmentation\)"):
        main([str(bare), str(tmp_path / "out.safetensors"), "--task", "segmentation"])
    assert not (tmp_path / "out.safetensors").exists()


def test_the_task_classes_are_known_in_a_fresh_process() -> None:
    """`zoo export` runs in a process that has imported no task yet (the package imports them lazily)."""
    import subprocess
    import sys

    code = "from tasks.export import _task_classes; print(sorted(_task_classes().items()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(
        [("ClassificationTask", "classification"), ("PoseTask", "pose"), ("SegmentationTask", "segmentation")]
    )
