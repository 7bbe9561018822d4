"""The fixed cost of `zoo fit`: from the command's start to its first training step, broken down by what
the time goes to (imports, building the run from the config, the data, W&B, the model summary, the
sanity check...), each phase measured in a fresh process as a user's `zoo fit` runs it.

    .venv/bin/python benchmarks/fit_startup.py [--runs 3] [--config classification/resnet] [-- ARGS...]

Each run is a child process that imports in order (torch, Lightning, wandb, then archzoo's own modules),
builds `zoo fit`'s run exactly as the command does (`ZooCLI`, W&B offline) and fits until the first
training batch starts, timing the callbacks' and data module's hooks on the way. The table gives the
median of the runs; "archzoo's part" sums the rows that archzoo's code controls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

START = time.perf_counter()
ARCHZOO_ROWS = (
    "import archzoo (tasks, zoo)",
    "parse the config and build model, data and trainer",
    "data: prepare_data + setup",
    "W&B run start (offline)",
    "callbacks' setup and on_fit_start (model summary, stats)",
    "sanity check (2 validation batches)",
)


def child(config: str, extra: list[str]) -> dict[str, float]:
    """One cold `zoo fit` to its first training step; seconds per phase, in the order they happen."""
    phases: dict[str, float] = {}
    mark = [START]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - mark[0]
        mark[0] = now

    import torch  # noqa: F401

    lap("import torch")
    import pytorch_lightning as pl

    lap("import pytorch_lightning")
    import wandb  # noqa: F401

    lap("import wandb")
    from tasks.config_files import find_config
    from tasks.lightning_cli import ZooCLI

    lap("import archzoo (tasks, zoo)")

    class Stop(Exception):
        """Raised at the first training batch: the fixed cost ends there."""

    class Clock(pl.Callback):
        def on_sanity_check_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            lap("Lightning between hooks")

        def on_sanity_check_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            lap("sanity check (2 validation batches)")

        def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, *args: object) -> None:
            lap("Lightning between hooks")
            raise Stop

    with tempfile.TemporaryDirectory() as root:
        args = ["--config", str(find_config(config)), "--trainer.default_root_dir", root, *extra]
        cli = ZooCLI(args=args, run=False)
        lap("parse the config and build model, data and trainer")
        timed(cli.datamodule, ("prepare_data", "setup"), "data: prepare_data + setup", lap)
        for callback in cli.trainer.callbacks:
            timed(callback, ("setup", "on_fit_start"), "callbacks' setup and on_fit_start (model summary, stats)", lap)
        for logger in cli.trainer.loggers:
            if type(logger).__name__ == "ZooWandbLogger":
                timed_experiment(logger, lap)
        cli.trainer.callbacks.append(Clock())
        with contextlib.suppress(Stop):
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        lap("Lightning between hooks")
        wandb.finish()
    return phases


def timed(owner: object, methods: tuple[str, ...], name: str, lap) -> None:
    """Wrap ``owner``'s methods so the time before each call goes to Lightning and the call to ``name``."""
    for method in methods:
        original = getattr(owner, method)

        def wrapper(*args: object, _original=original, **kwargs: object) -> object:
            lap("Lightning between hooks")
            try:
                return _original(*args, **kwargs)
            finally:
                lap(name)

        setattr(owner, method, wrapper)


def timed_experiment(logger: object, lap) -> None:
    """Time the W&B logger's run start (Lightning starts it lazily, at the first ``experiment``)."""
    cls = type(logger)
    prop = cls.experiment

    class Timed(cls):  # type: ignore[misc, valid-type]
        @property
        def experiment(self):  # noqa: ANN202 - the logger's own type
            if getattr(self, "_experiment", None) is not None:
                return prop.fget(self)
            lap("Lightning between hooks")
            try:
                return prop.fget(self)
            finally:
                lap("W&B run start (offline)")

    logger.__class__ = Timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", default="classification/resnet")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="more `zoo fit` arguments, after --")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.config, args.extra)))
        return
    interpreter = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter.append(time.perf_counter() - start)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    runs = []
    for _ in range(args.runs):
        command = [sys.executable, __file__, "--child", "--config", args.config, "--", *args.extra]
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    rows = {"python start": statistics.median(interpreter)}
    for name in runs[0]:
        rows[name] = statistics.median(run.get(name, 0.0) for run in runs)
    print(f"`zoo fit --config {args.config} {' '.join(args.extra)}`, median of {args.runs} cold runs\n")
    print("| phase | seconds |\n|---|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **total, to the first training step** | **{sum(rows.values()):.2f}** |")
    print(f"| archzoo's part (the rows it controls) | {sum(rows.get(r, 0.0) for r in ARCHZOO_ROWS):.2f} |")


if __name__ == "__main__":
    main()
