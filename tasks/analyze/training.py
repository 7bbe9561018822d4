"""The trained nets that four studies share: plain20, plain56, resnet20 and resnet56 of He et al.
2015 (sec. 4.2, fig. 6), trained with one recipe and budget. `degradation` compares their training
errors; `responses`, `lesion` and `paths` look inside them.

Training runs `tasks.ClassificationTask` on `tasks.data.ClassificationData` (the synthetic shapes,
or CIFAR-10 pickles when the analyze run has a data path) under a Lightning Trainer. `trained_nets`
saves each net as a checkpoint in the degradation study's folder, the study that trains them first,
and loads it back when the recipe and data match, so `zoo analyze all` trains once. The data
helpers give the studies the very images the nets were trained and validated on.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tasks.checkpoint_io import atomic_save
from tasks.classification import ClassificationTask
from tasks.data import ClassificationData
from tasks.trainers import quiet_trainer
from zoo.weights import read_torch_file

from .common import AnalyzeRun

NETS = ("plain20", "plain56", "resnet20", "resnet56")
"""The four nets of He et al. 2015 fig. 6 (CIFAR layout, 6n+2 layers)."""


@dataclass(frozen=True)
class TrainConfig:
    """One recipe and budget for all four nets: SGD with Nesterov momentum after a linear warm-up, no
    augmentation (the claim is about optimisation, so the training error is measured on the very
    images trained on).

    Attributes:
        image_size: side of the input images.
        widths: channels of the three stages (He et al.: 16, 32, 64).
        steps / batch_size / lr / weight_decay / warmup_steps: the optimisation budget.
        scheduler: "cosine", or "step" (He et al. sec. 4.2: the learning rate divided by 10 at 50%
            and 75% of the steps; they stop at 64k iterations, dividing at 32k and 48k).
        train_size / val_size: items of each split (synthetic: generated; CIFAR: a random subset).
        seeds: nets of each kind, trained from seeds ``analyze.seed``, ``+ 1``, ...; `degradation`
            compares their mean training losses, the other studies look inside the first seed's.
    """

    image_size: int = 32
    widths: tuple[int, int, int] = (16, 32, 64)
    steps: int = 3000
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    scheduler: str = "step"
    train_size: int = 10000
    val_size: int = 1000
    seeds: int = 1


QUICK = TrainConfig(
    image_size=16,
    widths=(8, 16, 32),
    steps=800,
    batch_size=32,
    lr=0.05,
    warmup_steps=40,
    scheduler="cosine",
    train_size=2000,
    val_size=500,
)
MEDIUM = TrainConfig(
    image_size=16, widths=(8, 16, 32), steps=2000, batch_size=128, train_size=20000, val_size=2000, seeds=3
)
"""Half widths at 16x16 with the paper's batch, learning rate and step schedule, 2000 steps (12.8 epochs)
on 20,000 images, three seeds of each net: about 40 minutes on 2 cores. The nets learn the task, not
the images (validation accuracy within a point of training accuracy), but the ResNets fit it to 0.1%
error or less, which is why `degradation` judges by the loss."""
FULL = TrainConfig()


@dataclass
class TrainedNet:
    """A trained net in eval mode and its record: recipe, data, training-loss curve, final errors."""

    net: nn.Module
    record: dict


def data_module(analyze: AnalyzeRun, config: TrainConfig) -> ClassificationData:
    """The nets' data: synthetic shapes, or CIFAR-10 from ``analyze.data_path``; no augmentation."""
    source = "cifar" if analyze.data_path else "synthetic"
    return ClassificationData(
        source=source,
        root=analyze.data_path,
        image_size=config.image_size,
        batch_size=config.batch_size,
        train_size=config.train_size,
        val_size=config.val_size,
        seed=analyze.seed,
        augment=False,
    )


def split_tensors(data: ClassificationData, train: bool) -> TensorDataset:
    """A split as one (images, labels) tensor pair, built once: without augmentation the items never
    change, and generating a synthetic image costs more than a training step of a small net."""
    items = [data.dataset(train)[i] for i in range(len(data.dataset(train)))]
    return TensorDataset(torch.stack([image for image, _ in items]), torch.tensor([int(label) for _, label in items]))


def loader(split: TensorDataset, batch_size: int = 128, shuffle: bool = False) -> DataLoader:
    """Batches of a split, in a fixed order unless ``shuffle``."""
    return DataLoader(split, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle)


@torch.no_grad()
def accuracy(net: nn.Module, batches: DataLoader) -> float:
    """Top-1 accuracy of ``net`` in eval mode over the batches."""
    net.eval()
    correct = total = 0
    for images, labels in batches:
        correct += (net(images).argmax(1) == labels).sum().item()
        total += len(labels)
    return correct / total


class _LossCurve(pl.Callback):
    """The training loss at every step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def train_net(
    name: str, config: TrainConfig, splits: dict[str, TensorDataset], num_classes: int, source: str, seed: int
) -> TrainedNet:
    """Train registry model ``name`` with the recipe on ``splits["train"]`` and return it with its
    record (loss curve, training error on the training split, validation accuracy)."""
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    pl.seed_everything(seed, verbose=False)
    task = ClassificationTask(
        model=name,
        num_classes=num_classes,
        model_kwargs={"widths": list(config.widths)},
        optimizer="sgd",
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        scheduler=config.scheduler,
        num_media=0,
    )
    curve = _LossCurve()
    trainer = quiet_trainer(max_steps=config.steps, callbacks=[curve], limit_val_batches=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*val_dataloader.*")  # no validation during these runs, by design
        trainer.fit(task, train_dataloaders=loader(splits["train"], config.batch_size, shuffle=True))
    net = task.net.eval()
    record = {
        "model": name,
        "recipe": _plain_recipe(config),
        "data": source,
        "loss_curve": curve.losses,
        "train_error": 1 - accuracy(net, loader(splits["train"])),
        "val_accuracy": accuracy(net, loader(splits["val"])),
        "num_classes": num_classes,
    }
    return TrainedNet(net, record)


def checkpoint_path(analyze: AnalyzeRun, name: str, replica: int = 0) -> Path:
    """Where net ``name`` of the ``replica``-th seed is kept: ``<out>/degradation/checkpoints/<name>.pt``
    (``<name>-seed<k>.pt`` after the first seed), beside the study that trains it first."""
    return analyze.study_dir("degradation") / "checkpoints" / (f"{name}-seed{replica}.pt" if replica else f"{name}.pt")


def _load(path: Path, config: TrainConfig, source: str) -> TrainedNet | None:
    """The checkpoint at ``path`` if it was trained with this recipe on this data, else None."""
    if not path.is_file():
        return None
    try:
        saved = read_torch_file(path)
    except ValueError as error:  # e.g. cut short by a kill before saves were atomic: train it again
        print(f"[degradation] {error}; training it again", flush=True)
        return None
    record = saved["record"]
    if record["recipe"] != _plain_recipe(config) or record["data"] != source:
        return None
    import zoo

    net = zoo.create_model(record["model"], num_classes=record["num_classes"], widths=list(config.widths))
    net.load_state_dict(saved["state_dict"])
    return TrainedNet(net.eval(), record)


def _plain_recipe(config: TrainConfig) -> dict:
    """The recipe of one net as saved in its checkpoint (tuples become lists; how many seeds are
    trained is not part of any one net's recipe)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items() if k != "seeds"}


def trained_nets(
    analyze: AnalyzeRun, config: TrainConfig, names: tuple[str, ...] = NETS, replica: int = 0
) -> dict[str, TrainedNet]:
    """The nets ``names`` trained with ``config`` from seed ``analyze.seed + replica``: loaded from the
    run folder's checkpoints when they match the recipe and data, trained and saved otherwise."""
    source = "cifar" if analyze.data_path else "synthetic"
    nets, splits = {}, None
    for name in names:
        path = checkpoint_path(analyze, name, replica)
        trained = _load(path, config, source)
        if trained is None:
            print(f"[degradation] training {name}, seed {analyze.seed + replica} ({config.steps} steps)", flush=True)
            if splits is None:
                data = data_module(analyze, config)
                splits = {"train": split_tensors(data, True), "val": split_tensors(data, False)}
            start = time.perf_counter()
            trained = train_net(name, config, splits, data.num_classes, source, analyze.seed + replica)
            trained.record["seconds"] = round(time.perf_counter() - start, 1)
            atomic_save({"record": trained.record, "state_dict": trained.net.state_dict()}, path)
        nets[name] = trained
    return nets
