"""The shared base of the three tasks, after torchgeo's ``BaseTask``: one lifecycle and one set of
arguments for every task. A task adds its output size, loss, metrics, decoding and media.

Lifecycle: ``__init__`` saves the hyperparameters (the subclass's too) and calls `configure_losses`;
`configure` then calls `configure_models` (``zoo.create_model`` for the task) and `configure_metrics`
as soon as the output size is known: at once when the config or a checkpoint gives it, else in
`setup`, from the data module (`configure_from_data`). So ``load_from_checkpoint`` rebuilds the model
in ``__init__``, and a config names the class count once, on the model or the data.

The training loss is logged per step (``train/loss_step``) and as the epoch's mean
(``train/loss_epoch``), a metric whose state is saved in checkpoints, so that a fit resumed mid-epoch
reports the same mean as an uninterrupted one. Tasks take a model name and build everything else, so
one YAML file under configs/ picks family, task, data and budget (docs/architecture.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch import nn
from torchmetrics import MeanMetric

import zoo
from zoo.registry import OUTPUTS

__all__ = ["ClassTask", "ZooTask"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULERS = ("cosine", "step", "onecycle", "none")


def _head(value: Any, n: int) -> Any:
    """The first ``n`` items of a batched tensor, or of each tensor in a list or dict."""
    if isinstance(value, dict):
        return {k: _head(v, n) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_head(v, n) for v in value]
    return value[:n]


def _plain(value: Any) -> Any:
    """A data module's metadata as plain hyperparameters: pairs (flip pairs, limbs) become tuples."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v for v in value]
    return value


class ZooTask(pl.LightningModule):
    """A LightningModule around ``zoo.create_model(model, task=self.task, **model_kwargs)``.

    Args:
        model: a registered model name (`zoo models` lists them).
        model_kwargs: overrides for the model (widths, ``num_stacks``, ``norm``...).
        optimizer: "adamw" or "sgd" (with Nesterov momentum).
        lr / momentum / weight_decay: the optimiser's settings.
        decay_norms_and_biases: apply the weight decay to norm weights and biases too (default: not,
            as timm and Goyal et al. 2017 sec. 3 do; docs/ablation.md measures both).
        scheduler: "cosine" (per step, after ``warmup_steps`` of linear warm-up), "step" (x0.1 at
            50% and 75% of training, He et al. 2015 sec. 4.2), "onecycle" (Smith and Topin 2018, torch's
            `OneCycleLR` with its defaults: 30% of the steps up to ``lr``, then cosine annealing down;
            ``warmup_steps`` is not used) or "none".
        warmup_steps: steps of linear learning-rate warm-up.
        num_media: images of the fixed validation batch logged as predictions each epoch.
        channels_last: keep weights and input batches in NHWC memory order, which tensor cores
            (``--trainer.precision 16-mixed`` or ``bf16-mixed`` on a GPU) run fastest; it also runs on CPU.

    The output size (classes or joints) and its names come from the data module when the config
    leaves them out (`data_fields`); they are saved in the checkpoint's hyperparameters.
    """

    task: ClassVar[str]
    monitor: ClassVar[str]
    """The headline validation metric; checkpoints keep the highest."""
    data_fields: ClassVar[tuple[str, ...]]
    """Hyperparameters taken from the data module when None: the output size first, then its names."""

    def __init__(
        self,
        model: str,
        model_kwargs: dict[str, Any] | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        decay_norms_and_biases: bool = False,
        scheduler: str = "cosine",
        warmup_steps: int = 0,
        num_media: int = 4,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={optimizer!r} is not supported; choose one of {', '.join(OPTIMIZERS)}.")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r} is not supported; choose one of {', '.join(SCHEDULERS)}.")
        zoo.get_spec(model)  # fail on a wrong name now, not after the data is loaded
        self.save_hyperparameters()  # with the subclass's arguments, which Lightning collects from its frame
        self.model_name, self.model_kwargs = model, dict(model_kwargs or {})
        self.net: nn.Module | None = None
        self.metrics_ready = False
        self.train_loss = MeanMetric()  # the epoch's mean training loss, saved in checkpoints
        self.train_loss.persistent(True)
        self.configure_losses()
        if self.output_size is not None:
            self.configure()

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def output_size(self) -> int | None:
        """The number of classes or joints, once known."""
        return self.hparams.get(OUTPUTS[self.task])

    def configure_losses(self) -> None:
        """Set up the loss (``self.criterion``) from the hyperparameters."""
        raise NotImplementedError

    def configure_models(self) -> None:
        """Build the network for the known output size and input channels."""
        output = {OUTPUTS[self.task]: self.output_size}
        self.net = zoo.create_model(self.model_name, task=self.task, **self.model_kwargs, **output)
        if self.hparams.get("channels_last"):
            self.net = self.net.to(memory_format=torch.channels_last)

    def configure_metrics(self) -> None:
        """Create the validation and test metrics for the known output size."""
        raise NotImplementedError

    def configure(self) -> None:
        """Build the network and the metrics, now that the output size is known (from the config, a
        checkpoint or `configure_from_data`); each only once."""
        if self.output_size is None:
            raise RuntimeError(
                f"{type(self).__name__} needs its output size ({OUTPUTS[self.task]}) before building the model: "
                "pass it in the config, restore a checkpoint that records it, or attach a data module."
            )
        if self.net is None:
            self.configure_models()
        if not self.metrics_ready:
            self.configure_metrics()
            self.metrics_ready = True

    def configure_from_data(self, datamodule: pl.LightningDataModule) -> None:
        """Fill the `data_fields` the config left out from the data module; an output size that the data
        contradicts is an error naming the flag."""
        key = OUTPUTS[self.task]
        given, found = self.hparams.get(key), getattr(datamodule, key, None)
        if given is not None and found is not None and given != found:
            raise ValueError(
                f"model.{key}={given} but the data has {found}; set --model.init_args.{key} {found} or leave it out."
            )
        for name in self.data_fields:
            value = getattr(datamodule, name, None)
            if self.hparams.get(name) is None and value is not None:
                self.hparams[name] = _plain(value)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            self.configure_from_data(datamodule)
            in_chans = getattr(datamodule, "in_chans", None)
            if in_chans is not None and "in_chans" not in self.model_kwargs:
                self.model_kwargs["in_chans"] = in_chans
                self.hparams["model_kwargs"] = dict(self.model_kwargs)
                if self.net is not None and self.net.in_chans != in_chans:
                    self.net = None  # built in __init__ for the registry's default channels: rebuild
        self.configure()

    def forward(self, x: torch.Tensor) -> Any:
        if self.hparams.get("channels_last"):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    # --- training loop ---------------------------------------------------------------------------
    def compute_loss(self, output: Any, target: Any, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, Any], batch_idx: int) -> torch.Tensor:
        images, target = batch
        buffers = [b for b in self.net.buffers() if b.numel()]  # BatchNorm running statistics, counters
        saved = [b.clone() for b in buffers]  # the forward pass updates them before the loss is known
        loss = self.compute_loss(self(images), target, images)
        if not torch.isfinite(loss):
            with torch.no_grad():
                for buffer, value in zip(buffers, saved, strict=True):
                    buffer.copy_(value)
            raise FloatingPointError(
                f"The training loss is {loss.item()} at global step {self.global_step} (epoch {self.current_epoch}, "
                f"batch {batch_idx}). Training stopped before this step could change the weights or the BatchNorm "
                "statistics; the last good checkpoint is kept. Lower the learning rate, add warm-up, or check "
                "the data for NaNs."
            )
        self.train_loss(loss.detach(), len(images))  # the step's value, and the epoch's running mean
        self.log("train/loss", self.train_loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()  # not called when a fit resumes mid-epoch: the mean goes on

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Accept checkpoints written before the mean training loss was part of the state."""
        for key, value in self.train_loss.state_dict(prefix="train_loss.").items():
            checkpoint["state_dict"].setdefault(key, value)

    def validation_step(self, batch: tuple[torch.Tensor, Any], batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: tuple[torch.Tensor, Any], batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")

    def _evaluate(self, batch: tuple[torch.Tensor, Any], batch_idx: int, split: str) -> None:
        images, target = batch
        output = self(images)
        self.log(f"{split}/loss", self.compute_loss(output, target, images), batch_size=len(images), sync_dist=True)
        self.update_metrics(output, target, images, split)
        if split == "val" and batch_idx == 0 and self.hparams.num_media > 0:
            n = self.hparams.num_media
            self.log_media(images[:n], _head(output, n), _head(target, n))

    def update_metrics(self, output: Any, target: Any, images: torch.Tensor, split: str) -> None:
        raise NotImplementedError

    def predict(self, images: torch.Tensor, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """The task's decoded predictions for a batch of images, in the model input's pixels; with the
        batch's ``info`` (`tasks.data.datasets.item_info`: the region of each image the input shows), also
        in the pixels of each image (``image_*`` keys)."""
        raise NotImplementedError

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        """`predict` on a batch of images, or on the ``(images, infos)`` batches of a predict loader."""
        if isinstance(batch, (list, tuple)):
            return self.predict(batch[0], batch[1] if isinstance(batch[1], dict) else None)
        return self.predict(batch)

    def log_media(self, images: torch.Tensor, output: Any, target: Any) -> None:
        """Log predictions on the fixed first validation batch to W&B (no-op without W&B)."""

    def wandb_run(self) -> Any | None:
        """The W&B run of the first WandbLogger, on rank 0 and outside sanity checking."""
        if self.trainer.sanity_checking or self.global_rank != 0:
            return None
        return next((lg.experiment for lg in self.loggers if isinstance(lg, WandbLogger)), None)

    # --- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        decay, no_decay = [], []
        every = hp.get("decay_norms_and_biases", False)  # absent from checkpoints written before it existed
        for p in self.net.parameters():  # norms and biases are the 1-d parameters
            (decay if every or p.ndim > 1 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, nesterov=hp.momentum > 0)
        else:
            opt = torch.optim.AdamW(groups, lr=hp.lr)
        if hp.scheduler == "none":
            return {"optimizer": opt}
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        if hp.scheduler == "onecycle":
            cycle = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=hp.lr, total_steps=total, cycle_momentum=hp.optimizer == "adamw" or hp.momentum > 0
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": cycle, "interval": "step"}}
        warmup = min(hp.warmup_steps, total - 1)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(total - warmup, 1)
            if hp.scheduler == "cosine":
                return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
            return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ClassTask(ZooTask):
    """A task whose output is one channel per class (classification, segmentation): the class count and
    names come from the data module when the config leaves them out."""

    data_fields = ("num_classes", "class_names")

    @property
    def num_classes(self) -> int | None:
        return self.hparams.get("num_classes")

    @property
    def class_names(self) -> list[str] | None:
        return self.hparams.get("class_names")

    @property
    def label_names(self) -> list[str]:
        """The class names, or "0".."N-1" when neither config nor data named the classes."""
        return list(self.class_names or [str(i) for i in range(self.num_classes)])
