"""Tests for tasks.callbacks: ZooCheckpoint (best and last by the task's metric) and ModelStats."""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from tasks import ClassificationTask, SegmentationTask
from tasks.callbacks import ModelStats, ZooCheckpoint
from tasks.checkpoint_io import AtomicCheckpointIO
from tasks.cli import main
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
    # one file under both names exactly when a best after the first epoch's is the last state
    same_file = (dirpath / "best.ckpt").stat().st_ino == (dirpath / "last.ckpt").stat().st_ino
    assert same_file == (best["global_step"] == 2)


class RisingScore(ClassificationTask):
    """A classification task whose monitored score rises every epoch, so every validation writes best.ckpt."""

    monitor = "rising"

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log("rising", float(self.current_epoch))


def test_last_is_a_link_to_best_written_at_the_same_step_and_resumes(tmp_path):
    """After the first epoch (whose best.ckpt predates any last.ckpt, which its state cannot name), a
    last.ckpt at the step of a new best.ckpt is a link to it, not a second write; a fit resumed from
    it goes on into the same files."""
    data = ClassificationData(image_size=32, batch_size=8, train_size=8, val_size=8)
    best, last = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    links = []

    class Watched(ZooCheckpoint):
        def on_train_epoch_end(self, trainer, pl_module) -> None:  # saves after the epoch's validation
            super().on_train_epoch_end(trainer, pl_module)
            trainer.strategy.checkpoint_io.wait()  # the files are written on a background thread
            links.append(best.stat().st_ino == last.stat().st_ino)

    def fit(epochs: int, ckpt_path: str | None = None) -> None:
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            callbacks=[Watched(dirpath=str(tmp_path))],
            num_sanity_val_steps=0,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(RisingScore(model="resnet20", model_kwargs={"widths": [4, 8, 8]}), data, ckpt_path=ckpt_path)

    fit(3)
    assert links == [False, True, True] and best.stat().st_nlink == 2
    fit(4, ckpt_path=str(last))
    assert links[3:] == [True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]  # no last-v1, no temporary
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["global_step"] == 4 and resumed["epoch"] == 3


def test_checkpoint_setup_reads_the_monitor_of_any_task(tmp_path):
    checkpoint = ZooCheckpoint(dirpath=str(tmp_path))
    task = SegmentationTask(model="unet_same", num_classes=3, model_kwargs={"base_width": 4})
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[checkpoint], enable_progress_bar=False)
    checkpoint.setup(trainer, task, "fit")
    assert checkpoint.monitor == "val/miou" and checkpoint.mode == "max"
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)  # every save is atomic


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


def test_the_step_interval_is_checked(fitted, tmp_path):
    _, checkpoint, _, _ = fitted
    assert checkpoint.step_interval is None
    with pytest.raises(ValueError, match="every_n_train_steps must be >= 1"):
        ZooCheckpoint(dirpath=str(tmp_path), every_n_train_steps=0)


# --- interruptions: kill -9, SIGTERM and Ctrl-C, then --ckpt_path last -------------------------------
# The fits run in forked processes (the test process has imported everything already) and are resumed
# in this process; the weights and metrics must be those of an uninterrupted run, bit for bit.

STEPS_PER_EPOCH, EPOCHS = 6, 3


def _fit_args(root: Path, workers: int = 0, *more: str) -> list[str]:
    return [
        "fit",
        "--model=tasks.ClassificationTask",
        "--model.model=resnet20",
        "--model.model_kwargs={layers: [1, 1, 1], widths: [4, 8, 8]}",
        "--model.num_media=0",
        "--data=tasks.data.ClassificationData",
        "--data.image_size=16",
        "--data.batch_size=8",
        f"--data.train_size={8 * STEPS_PER_EPOCH}",
        "--data.val_size=16",
        f"--data.num_workers={workers}",
        f"--trainer.max_epochs={EPOCHS}",
        "--trainer.accelerator=cpu",
        f"--trainer.default_root_dir={root}",
        "--trainer.logger=CSVLogger",
        f"--trainer.logger.save_dir={root}",
        "--trainer.logger.name=csv",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        "--checkpoint.every_n_train_steps=2",
        *more,
    ]


def _child(args: list[str]) -> None:
    os.setpgrp()  # its own process group, like a job started from a shell: Ctrl-C reaches it and its workers
    main(args)


def _interrupt(args: list[str], last: Path, signum: int, delay: float, after_step: int = 0) -> int:
    """Start a fit in a forked process, send `signum` (to its process group for SIGINT, as a terminal
    does) `delay` s after a step checkpoint past `after_step` exists; return its exit code."""
    process = multiprocessing.get_context("fork").Process(target=_child, args=(args,))
    process.start()
    deadline = time.monotonic() + 300
    while process.is_alive() and time.monotonic() < deadline:
        if last.exists() and _step(last, missing=-1) > after_step:
            break
        time.sleep(0.005)
    time.sleep(delay)
    (os.killpg if signum == signal.SIGINT else os.kill)(process.pid, signum)
    process.join(60)
    return process.exitcode


def _step(path: Path, missing: int = 0) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["global_step"]
    except (OSError, RuntimeError, EOFError):  # not there yet
        return missing


def _rows(root: Path) -> dict[tuple[str, str], str]:
    """(step, metric) -> value, over every CSV the run wrote (one per fit, resumed or not)."""
    rows = {}
    for path in sorted(root.glob("csv/version_*/metrics.csv")):
        with open(path) as file:
            for row in csv.DictReader(file):
                rows |= {(row["step"], key): value for key, value in row.items() if value and key != "step"}
    return rows


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    main(_fit_args(root))
    return root


def _assert_same_run(root: Path, reference: Path) -> None:
    state = torch.load(root / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    expected = torch.load(reference / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == expected["global_step"] == STEPS_PER_EPOCH * EPOCHS
    assert state["state_dict"].keys() == expected["state_dict"].keys()
    for name, value in expected["state_dict"].items():
        assert torch.equal(state["state_dict"][name], value), name
    rows, expected_rows = _rows(root), _rows(reference)
    assert {k for k in expected_rows if k[1] == "val/acc1"} == {(str(s - 1), "val/acc1") for s in (6, 12, 18)}
    for key, value in expected_rows.items():  # every metric, step by step (the resumed steps logged twice)
        assert rows.get(key) == value, key


def test_killed_twice_with_sigkill_resumes_to_the_same_weights_and_metrics(uninterrupted, tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert _interrupt(_fit_args(tmp_path, workers=2), last, signal.SIGKILL, delay=0.05) == -signal.SIGKILL
    first = _step(last)
    assert 2 <= first < STEPS_PER_EPOCH * EPOCHS  # killed mid-run, after a step checkpoint
    resume = _fit_args(tmp_path, 0, "--ckpt_path=last")
    assert _interrupt(resume, last, signal.SIGKILL, delay=0.2, after_step=first) == -signal.SIGKILL
    assert first < _step(last) < STEPS_PER_EPOCH * EPOCHS  # the resumed run went on, then died too
    main(resume)
    _assert_same_run(tmp_path, uninterrupted)


@pytest.mark.parametrize(("signum", "workers"), [(signal.SIGTERM, 0), (signal.SIGINT, 2)], ids=["sigterm", "ctrl-c"])
def test_sigterm_and_ctrl_c_save_last_and_exit_non_zero(uninterrupted, tmp_path, signum, workers):
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert _interrupt(_fit_args(tmp_path, workers), last, signum, delay=0.1) == 128 + signum
    stopped = torch.load(last, map_location="cpu", weights_only=True)
    assert 2 <= stopped["global_step"] < STEPS_PER_EPOCH * EPOCHS
    main(_fit_args(tmp_path, 0, "--ckpt_path=last"))
    _assert_same_run(tmp_path, uninterrupted)


def test_a_write_that_fails_as_the_fit_stops_is_a_warning_not_a_new_exception(tmp_path):
    """The exception that stopped the fit (a SIGTERM's exit status 143) must reach the caller, not a
    checkpoint's OSError raised at teardown."""
    io = AtomicCheckpointIO(background=True)
    io.save_checkpoint({"a": torch.ones(1)}, tmp_path / "not-a-folder")
    io.wait()
    io.save_checkpoint({"a": torch.ones(1)}, tmp_path / "not-a-folder" / "last.ckpt")  # fails on the writer thread
    trainer = SimpleNamespace(strategy=SimpleNamespace(checkpoint_io=io))
    with pytest.warns(UserWarning, match="could not be written"):
        ZooCheckpoint().on_exception(trainer, None, SIGTERMException(143))
    io.teardown()  # nothing left to raise
