"""Tests for tasks.callbacks: ZooCheckpoint (best and last by the task's metric) and ModelStats."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger

from tasks import ClassificationTask, SegmentationTask
from tasks.callbacks import ModelStats, ZooCheckpoint
from tasks.data import ClassificationData
from zoo.measure import count_gflops, count_params


class RecordingLogger(Logger):
    """Keeps every hyperparameter and metric dict it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.hyperparams: list[dict] = []
        self.metrics: list[dict] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        self.hyperparams.append(dict(params))

    def log_metrics(self, metrics, step=None) -> None:
        self.metrics.append(dict(metrics))

    def stats(self) -> dict:
        (stats,) = [p for p in self.hyperparams if "model/params" in p]
        return stats


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """resnet20 for 2 epochs of 1 step, with both callbacks and a recording logger."""
    torch.manual_seed(0)
    dirpath = tmp_path_factory.mktemp("checkpoints")
    checkpoint, logger = ZooCheckpoint(dirpath=str(dirpath)), RecordingLogger()
    assert checkpoint.monitor is None
    data = ClassificationData(image_size=32, batch_size=8, train_size=8, val_size=8)
    task = ClassificationTask(model="resnet20")
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=logger,
        callbacks=[checkpoint, ModelStats()],
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, data)
    return task, checkpoint, logger, dirpath


def test_checkpoint_monitors_the_task_metric_and_writes_best_and_last(fitted):
    task, checkpoint, logger, dirpath = fitted
    assert checkpoint.monitor == task.monitor == "val/acc1"
    assert sorted(p.name for p in dirpath.iterdir()) == ["best.ckpt", "last.ckpt"]
    scores = [m["val/acc1"] for m in logger.metrics if "val/acc1" in m]
    assert len(scores) == 2
    assert checkpoint.best_model_path == str(dirpath / "best.ckpt")
    assert checkpoint.best_model_score.item() == pytest.approx(max(scores))  # mode "max"

    best = torch.load(dirpath / "best.ckpt", map_location="cpu", weights_only=True)
    last = torch.load(dirpath / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 2 and last["epoch"] == 1
    assert best["global_step"] == (1 if scores[0] >= scores[1] else 2)
    assert best["hyper_parameters"]["num_classes"] == 10


def test_checkpoint_setup_reads_the_monitor_of_any_task(tmp_path):
    checkpoint = ZooCheckpoint(dirpath=str(tmp_path))
    task = SegmentationTask(num_classes=3, model_kwargs={"base_width": 4})
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[checkpoint], enable_progress_bar=False)
    checkpoint.setup(trainer, task, "fit")
    assert checkpoint.monitor == "val/miou" and checkpoint.mode == "max"


def test_model_stats_logs_params_and_gflops(fitted):
    task, _, logger, _ = fitted
    stats = logger.stats()
    assert stats["model/name"] == "resnet20" and stats["model/task"] == "classification"
    assert stats["model/params"] == count_params(task.net) > 0
    assert stats["model/gflops"] == pytest.approx(round(count_gflops(task.net, (3, 32, 32)), 4))
    assert stats["model/gflops"] > 0


def test_model_stats_without_an_image_size_skips_gflops():
    logger = RecordingLogger()
    task = ClassificationTask(model="resnet20", num_classes=10)
    ModelStats().on_fit_start(SimpleNamespace(datamodule=None, loggers=[logger]), task)
    stats = logger.stats()
    assert "model/gflops" not in stats and stats["model/params"] == count_params(task.net)
