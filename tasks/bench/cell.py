"""One bench cell, run in this process: train the task's LightningModule on its data (the synthetic
set, or the user's folders) for the budget under a `pl.Trainer`, validate on the held-out split, then
measure size, cost, speed and memory. Each cell is one W&B run in the bench's group, whose config
records the data (``data/source``, ``data/root``).

A cell on several processes (``devices`` x ``num_nodes`` > 1) runs in a child process of its own
(`tasks.bench.child`), because Lightning's DDP launcher starts the other ranks by re-running the
command line, which must be the cell's, not the bench's; rank 0 trains, validates, measures and
writes the record, which the bench reads back.

A cell that fails (an exception, a NaN loss, which the tasks raise as FloatingPointError, out of
memory) returns a "failed" record with its error, so the bench goes on with the next cell.
Ctrl-C is not caught: it stops the bench, whose finished cells are already on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.apply_func import move_data_to_device
from lightning_fabric.utilities.rank_zero import rank_zero_only
from torch.utils.data import default_collate

from tasks.bench.measure import Settings, throughput
from tasks.bench.preset import Cell
from tasks.trainers import quiet_trainer
from tasks.wandb_setup import ZooWandbLogger
from zoo.measure import count_gflops, count_params

METRIC_FIELDS = ("metric", "params", "gflops", "infer_ips", "train_ips", "peak_mem_mb", "wall_s", "steps")
"""The measured numbers of a cell record."""


class StepProgress(pl.Callback):
    """Advance a rich progress bar with the training step (and tell it when validation starts)."""

    def __init__(self, progress: Any, task_id: Any) -> None:
        self.progress, self.task_id = progress, task_id

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.progress.update(self.task_id, completed=trainer.global_step)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.progress.update(self.task_id, description="validating")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Keep Lightning's per-Trainer banners and hints out of the progress display; warnings of
    substance (and errors) still show."""
    log = logging.getLogger("pytorch_lightning")
    level = log.level
    log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        hints = "LeafSpec|log_every_n_steps|num_workers|max_steps|val_dataloader"
        warnings.filterwarnings("ignore", message=f".*({hints}).*")
        try:
            yield
        finally:
            log.setLevel(level)


def cell_record(cell: Cell, settings: Settings) -> dict[str, Any]:
    """The fields of a cell's result known before it runs."""
    data = dict(cell.data_kwargs)
    return {
        "cell": cell.cell_id,
        "task": cell.task,
        "name": cell.name,
        "model": cell.model,
        "model_kwargs": cell.model_kwargs,
        "image_size": data.get("image_size"),
        "batch_size": settings.batch_size or data.get("batch_size"),
        "devices": cell.processes,
        **cell.data,
        "budget": cell.budget,
        "status": "running",
        "metric_name": None,
        **dict.fromkeys(METRIC_FIELDS),
        "error": None,
        "run_dir": None,
    }


def run_cell(
    cell: Cell,
    settings: Settings,
    timing: dict[str, int],
    out_dir: Path,
    group: str,
    progress: Any = None,
    in_child: bool = False,
) -> dict[str, Any]:
    """Train, validate and measure one cell; returns its record (status "ok" or "failed"). A cell on
    several processes goes to a child process (`run_in_child`) unless this is that child (`in_child`).

    Args:
        cell: what to run.
        settings: the bench's switches (device, precision, channels_last, compile, batch size).
        timing: ``warmup`` and ``repeats`` of the speed measurements.
        out_dir: the bench's run folder (W&B runs go under it).
        group: the W&B group of the bench.
        progress: a rich Progress showing the step, or None.
    """
    if cell.processes > 1 and not in_child:
        return run_in_child(cell, settings, timing, out_dir, group)
    record = cell_record(cell, settings)
    start = time.perf_counter()
    logger = None
    try:
        logger = ZooWandbLogger(save_dir=str(out_dir), name=cell.cell_id, group=group, job_type="bench-cell")
        if rank_zero_only.rank == 0:  # the other ranks of a multi-process cell log nothing
            record["run_dir"] = str(Path(logger.experiment.dir).resolve().parent.relative_to(out_dir.resolve()))
        with quiet_lightning():
            record.update(_train_and_measure(cell, settings, timing, out_dir, logger, progress))
        record["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - a failed cell is a result, the bench goes on
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}".strip().splitlines()[0][:300]
        record["traceback"] = traceback.format_exc(limit=-3)
    record["wall_s"] = time.perf_counter() - start
    if logger is not None and rank_zero_only.rank == 0:
        _finish_run(logger, record)
    return record


def run_in_child(cell: Cell, settings: Settings, timing: dict[str, int], out_dir: Path, group: str) -> dict[str, Any]:
    """Run a multi-process cell as ``python -m tasks.bench.child JOB RECORD`` and return the record its
    rank 0 wrote; a child that wrote none (killed, out of memory) gives a "failed" record naming its
    exit status and last output line."""
    record = cell_record(cell, settings)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".child-") as folder:
        job, result = Path(folder) / "job.json", Path(folder) / "record.json"
        job.write_text(json.dumps({"cell": asdict(cell), "settings": asdict(settings), "timing": timing,
                                   "out_dir": str(out_dir), "group": group}))  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "tasks.bench.child", str(job), str(result)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.is_file():
            record = json.loads(result.read_text())
        else:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            record.update(status="failed", error=f"the {cell.processes}-process cell exited with status "
                          f"{done.returncode}: {last[0][:250]}")  # fmt: skip
    record["wall_s"] = time.perf_counter() - start
    return record


def _train_and_measure(
    cell: Cell, settings: Settings, timing: dict[str, int], out_dir: Path, logger: ZooWandbLogger, progress: Any
) -> dict[str, Any]:
    data_kwargs = dict(cell.data_kwargs)
    pl.seed_everything(data_kwargs.get("seed", 0), workers=True, verbose=False)
    module, data = cell.build(batch_size=settings.batch_size)
    net = module.net
    size = (data.in_chans, data.image_size, data.image_size)
    stats = {"metric_name": module.monitor, "params": count_params(net), "gflops": count_gflops(net, size)}
    data_used = {f"data/{key}": value for key, value in cell.data.items()}
    logger.log_hyperparams(
        {"cell": cell.cell_id, "model/name": cell.model, "model/task": cell.task, **data_used, **stats}
    )
    module.net = settings.prepare(net)

    callbacks = []
    if progress is not None:
        total = cell.steps if cell.steps is not None else None
        task_id = progress.add_task(f"{cell.cell_id}: training", total=total)
        callbacks.append(StepProgress(progress, task_id))
    trainer = quiet_trainer(
        **{"accelerator": settings.device, **cell.trainer_kwargs},
        precision=settings.precision,
        max_steps=cell.steps if cell.steps is not None else -1,
        max_time=timedelta(minutes=cell.minutes) if cell.minutes is not None else None,
        max_epochs=-1,
        check_val_every_n_epoch=None,
        val_check_interval=10**9,  # validate once, after the budget
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=min(10, cell.steps or 10),
        default_root_dir=str(out_dir),
    )
    try:
        trainer.fit(module, datamodule=data)
        metrics = trainer.validate(module, datamodule=data, verbose=False)[0]
    finally:
        if progress is not None:
            progress.remove_task(task_id)
    if module.monitor not in metrics:
        raise RuntimeError(f"validation logged no {module.monitor!r}; it logged {', '.join(metrics)}")
    if trainer.global_rank != 0:  # rank 0 measures the speed, alone on its cores
        return {"metric": float(metrics[module.monitor])}

    images, target = default_collate([data.dataset(train=True)[i] for i in range(data.batch_size)])
    images = images.to(settings.device, memory_format=settings.memory_format)
    target = move_data_to_device(target, settings.device)

    def loss_fn(output: Any) -> torch.Tensor:
        return module.compute_loss(output, target, images)

    speed = throughput(module.net, images, loss_fn, settings, timing["warmup"], timing["repeats"])
    return {**stats, "metric": float(metrics[module.monitor]), "steps": trainer.global_step, **speed}


def _finish_run(logger: ZooWandbLogger, record: dict[str, Any]) -> None:
    """Write the cell's measurements into its W&B run's summary and close the run."""
    run = logger.experiment
    numbers = {f"bench/{k}": record[k] for k in METRIC_FIELDS if record[k] is not None}
    run.summary.update({**numbers, "bench/status": record["status"], "bench/error": record["error"] or ""})
    run.finish(exit_code=0 if record["status"] == "ok" else 1)
