"""Callbacks every `zoo` run gets: checkpoints of the best and the last epoch, and a model
summary with parameters and GFLOPs at the start."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_info

from zoo.measure import count_gflops, count_params


class ZooCheckpoint(ModelCheckpoint):
    """``best.ckpt`` (highest value of the task's headline metric) and ``last.ckpt``, in ``dirpath``.

    The monitored metric comes from the task (``val/acc1``, ``val/miou``, ``val/pck``), so one
    callback configuration serves every task. ``--ckpt_path last`` resumes from ``last.ckpt``.
    """

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str = "best",
        save_last: bool = True,
        every_n_train_steps: int | None = None,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            save_last=save_last,
            save_top_k=1,
            mode="max",
            every_n_train_steps=every_n_train_steps,
            auto_insert_metric_name=False,
        )

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.monitor = getattr(pl_module, "monitor", None)
        super().setup(trainer, pl_module, stage)


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
