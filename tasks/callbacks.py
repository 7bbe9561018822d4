"""Callbacks every `zoo` run gets: checkpoints of the best and the last state (also every N steps,
on SIGTERM and on Ctrl-C, always written atomically), a model summary with parameters and GFLOPs
at the start, and the files `zoo predict` writes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from tasks.checkpoint_io import AtomicCheckpointIO
from tasks.prediction import PredictionFiles
from zoo.measure import count_gflops, count_params


class ZooCheckpoint(ModelCheckpoint):
    """``best.ckpt`` (highest value of the task's headline metric) and ``last.ckpt``, in ``dirpath``,
    written so that a fit killed at any moment loses at most ``every_n_train_steps`` steps.

    The monitored metric comes from the task (``val/acc1``, ``val/miou``, ``val/pck``), so one
    callback configuration serves every task. ``--ckpt_path last`` resumes from ``last.ckpt``, bit
    for bit on CPU: the data loaders of `tasks.data` save their position in it.

    - ``last.ckpt`` is written after every validation (Lightning's ModelCheckpoint only writes it
      when ``best.ckpt`` improves) and, with ``every_n_train_steps``, every that many optimizer
      steps, also before the first validation (Lightning defers step saves until the monitored
      metric exists).
    - SIGTERM (what schedulers and ``kill`` send) and Ctrl-C stop the fit after the current training
      step (or, when it is an epoch's last, after the validation and checkpoint that follow it),
      save ``last.ckpt`` and exit with status 128 + signal number (143, 130). A second signal stops
      at once, without saving again (a checkpoint already being written is finished).
    - Every save is atomic and written on a background thread while training goes on
      (`tasks.checkpoint_io.AtomicCheckpointIO` with ``background=True``), unless the trainer was
      given another checkpoint IO plugin. Every file is on disk when ``trainer.fit`` returns or
      raises; a SIGKILL loses the write in flight, never the file it replaces.
    - When ``best.ckpt`` was written at this very step, ``last.ckpt`` becomes a hard link to it rather
      than a second write (a file copy where the file system has no hard links): the state is the
      same, and writing a ResNet-18 with its AdamW moments (135 MB, serialised and synced) took
      0.37 s, 3% of a 13 s epoch (docs/ablation.md). Later saves replace either name with a new
      file, so the other keeps its content.
    """

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str = "best",
        save_last: bool = True,
        every_n_train_steps: int | None = None,
    ) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(
                f"every_n_train_steps must be >= 1 (or None for no step checkpoints), got {every_n_train_steps}"
            )
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            save_last=save_last,
            save_top_k=1,
            mode="max",
            auto_insert_metric_name=False,
        )
        self.step_interval = every_n_train_steps
        self._stop_signal: int | None = None
        self._stop_now = False
        self._previous_handlers: dict[int, Any] = {}
        self._written_with_last_path = ""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.monitor = getattr(pl_module, "monitor", None)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default: make it atomic
            trainer.strategy.checkpoint_io = AtomicCheckpointIO(background=True)
        super().setup(trainer, pl_module, stage)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        """Write ``filepath``, or make it a copy of best.ckpt when that holds this very state (see the class)."""
        if self._holds_this_state(trainer, filepath):
            self._last_checkpoint_saved = filepath
            if trainer.is_global_zero:
                trainer.strategy.checkpoint_io.copy_checkpoint(self.best_model_path, filepath)
                for logger in trainer.loggers:
                    logger.after_save_checkpoint(proxy(self))
            return
        self._written_with_last_path = self.last_model_path  # this callback's state goes into the file
        super()._save_checkpoint(trainer, filepath)

    def _holds_this_state(self, trainer: pl.Trainer, filepath: str) -> bool:
        """Whether best.ckpt, just written, is what ``filepath`` (last.ckpt) would hold: written at this
        global step (nothing trains between a validation's two saves) with this callback's state naming
        ``filepath`` as last.ckpt (not so at the first save, before any last.ckpt), locally and atomically."""
        return bool(
            filepath == self.last_model_path == self._written_with_last_path
            and self.best_model_path
            and self._last_checkpoint_saved == self.best_model_path != filepath
            and self._last_global_step_saved == trainer.global_step
            and type(trainer.strategy.checkpoint_io) is AtomicCheckpointIO
            and "://" not in filepath
        )

    # --- when to write last.ckpt -----------------------------------------------------------------
    def _save_last_now(self, trainer: pl.Trainer) -> None:
        """Write last.ckpt for the current step unless it was written at this step already."""
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Every `step_interval` optimizer steps, and after a SIGTERM or Ctrl-C, write last.ckpt (a signal
        then stops the fit at the next batch's start, once this step's metrics are logged). The epoch's
        last batch is left out: its checkpoint is written after the validation that follows it, which a
        signal does not cut short."""
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        if self._stop_signal is not None:
            if not trainer.fast_dev_run:
                self._save_last_now(trainer)
            self._stop_now = True  # at the next batch's start, once this step's metrics are logged
            return
        step_due = self.step_interval and trainer.global_step % self.step_interval == 0
        if step_due and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_now(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._stop_now:
            name = signal.Signals(self._stop_signal).name
            rank_zero_warn(f"Stopped by {name} at global step {trainer.global_step}; resume with --ckpt_path last")
            raise SIGTERMException(128 + self._stop_signal)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer) and not self._should_save_on_train_epoch_end(trainer):
            self._save_last_now(trainer)
        self._stop_after_saving()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer) and self._should_save_on_train_epoch_end(trainer):
            self._save_last_now(trainer)
        self._stop_after_saving()

    def _stop_after_saving(self) -> None:
        """A signal that came during an epoch's last step or its validation stops the fit before the
        next step, now that the validation has run and last.ckpt holds it."""
        if self._stop_signal is not None:
            self._stop_now = True

    # --- SIGTERM and Ctrl-C ----------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Handle SIGTERM and Ctrl-C from here on (in place of Lightning's SIGTERM handler, whose stop can
        cut a validation short, after which a resumed fit would skip it)."""
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGINT):
                self._previous_handlers[number] = signal.signal(number, self._on_signal)

    def _on_signal(self, number: int, frame: Any) -> None:
        if self._stop_signal is not None:
            raise KeyboardInterrupt  # the second signal: stop now
        self._stop_signal = number
        if rank_zero_only.rank == 0:
            # straight to the file descriptor: the signal may have come in the middle of a write to
            # sys.stderr, whose buffered writer would raise on a reentrant call
            message = (
                f"{signal.Signals(number).name}: saving last.ckpt and stopping after the current step "
                "(a second signal stops at once, without saving)\n"
            )
            with contextlib.suppress(OSError):  # a closed stderr must not turn the save into a crash
                os.write(2, message.encode())

    def _restore_handlers(self) -> None:
        for number, previous in self._previous_handlers.items():
            if signal.getsignal(number) == self._on_signal:
                signal.signal(number, previous)
        self._previous_handlers = {}

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Restore the signal handlers and finish the checkpoint writes now, so that a failed write is
        reported as a warning instead of replacing, at teardown, the exception that stopped the fit
        (a SIGTERM must still exit with 143)."""
        self._restore_handlers()
        if isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO):
            try:
                trainer.strategy.checkpoint_io.wait()
            except Exception as error:
                rank_zero_warn(f"A checkpoint could not be written while the fit stopped: {error!r}")
        if isinstance(exception, SIGTERMException) and exception.code is None:  # Lightning's, before training
            exception.code = 128 + signal.SIGTERM

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore_handlers()
        self._stop_signal, self._stop_now = None, False
        super().teardown(trainer, pl_module, stage)


class ModelStats(pl.Callback):
    """Print and log the model's name, task, parameters and GFLOPs per image when fitting starts."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        size = getattr(trainer.datamodule, "image_size", None)
        stats = {"model/name": pl_module.model_name, "model/task": pl_module.task, "model/params": count_params(net)}
        if size is not None:
            stats["model/gflops"] = round(count_gflops(net, (net.in_chans, size, size)), 4)
        rank_zero_info(
            f"archzoo model: {stats['model/name']} for {stats['model/task']}: "
            f"{stats['model/params']:,} params"
            + (f", {stats['model/gflops']} GFLOPs per {size}x{size} image" if size else "")
        )
        for logger in trainer.loggers:
            logger.log_hyperparams(stats)


class PredictionWriter(pl.Callback):
    """Write what `zoo predict` predicted, through `tasks.prediction.PredictionFiles`.

    Args:
        output_dir: folder of the files; ``None`` means the trainer's ``default_root_dir``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        self.output_dir = output_dir
        self.files: PredictionFiles | None = None

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        suffix = "" if trainer.world_size == 1 else f"-rank{trainer.global_rank}"
        names = getattr(pl_module, "label_names", None) if pl_module.task == "classification" else None
        folder = Path(self.output_dir or trainer.default_root_dir)
        self.files = PredictionFiles(folder, pl_module.task, pl_module.model_name, names, suffix)

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: dict[str, Any],
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.files.add(outputs, batch[1])

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        written = self.files.finish()
        if written:
            rank_zero_info(f"archzoo: wrote predictions to {', '.join(map(str, written))}")
