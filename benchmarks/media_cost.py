"""What logging the validation predictions as W&B media costs per epoch: each task's `log_media` is timed
call by call inside a real `zoo fit --config <task>/resnet` (W&B offline unless set otherwise), with a
small data set and a few epochs.

    .venv/bin/python benchmarks/media_cost.py [--tasks classification segmentation pose] [--epochs 3]

Prints, per task, the seconds of each `log_media` call (one per epoch, on the first validation batch)
beside the whole fit's wall time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from tasks import ClassificationTask, PoseTask, SegmentationTask
from tasks.base import ZooTask
from tasks.cli import main as zoo
from zoo.summary import markdown

TASKS: dict[str, type[ZooTask]] = {
    "classification": ClassificationTask,
    "segmentation": SegmentationTask,
    "pose": PoseTask,
}


def timed_fit(task: str, epochs: int, train_size: int, val_size: int) -> tuple[list[float], float]:
    """(seconds of each `log_media` call, seconds of the whole fit) for `zoo fit --config <task>/resnet`."""
    cls, calls = TASKS[task], []
    original = cls.log_media

    def log_media(self: ZooTask, *args: Any) -> None:
        start = time.perf_counter()
        original(self, *args)
        calls.append(time.perf_counter() - start)

    cls.log_media = log_media
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            zoo(
                ["fit", "--config", f"{task}/resnet", "--trainer.max_epochs", str(epochs)]
                + ["--data.init_args.train_size", str(train_size), "--data.init_args.val_size", str(val_size)]
                + ["--trainer.default_root_dir", out, "--trainer.enable_progress_bar", "false"]
            )
            return calls, time.perf_counter() - start
    finally:
        cls.log_media = original


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--val-size", type=int, default=64)
    args = parser.parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "offline")
    rows = []
    for task in args.tasks:
        calls, wall = timed_fit(task, args.epochs, args.train_size, args.val_size)
        rows.append([task, " ".join(f"{s:.3f}" for s in calls), f"{max(calls, default=0):.3f}", f"{wall:.1f}"])
    print(markdown(["task", "log_media s per call", "largest s", "fit s"], rows, right=frozenset({2, 3})))


if __name__ == "__main__":
    main()
