"""The degradation problem (He et al. 2015, sec. 4.2, fig. 1 and fig. 6): with one recipe and
budget, a 56-layer plain net reaches a higher training error than a 20-layer one, while a 56-layer
ResNet reaches no higher a training error than a 20-layer ResNet.

This module also owns the four trained nets (plain20, plain56, resnet20, resnet56) that the
`responses`, `lesion` and `paths` studies inspect: it saves them as checkpoints in the run folder
and `trained_nets` loads them back when the recipe matches, so `zoo analyze all` trains once.
Training runs `tasks.ClassificationTask` on `tasks.data.ClassificationData` (the synthetic shapes,
or CIFAR-10 pickles when the analyze run has a data path) under a Lightning Trainer.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tasks.checkpoint_io import atomic_save
from tasks.classification import ClassificationTask
from tasks.data import ClassificationData
from tasks.trainers import quiet_trainer
from zoo.weights import read_torch_file

from .common import AnalyzeRun, Verdict, finish_study

NETS = ("plain20", "plain56", "resnet20", "resnet56")
"""The four nets of He et al. 2015 fig. 6 (CIFAR layout, 6n+2 layers)."""


@dataclass(frozen=True)
class TrainConfig:
    """One recipe and budget for all four nets: SGD with Nesterov momentum, cosine schedule after a
    linear warm-up, no augmentation (the claim is about optimisation, so the training error is
    measured on the very images trained on).

    Attributes:
        image_size: side of the input images.
        widths: channels of the three stages (He et al.: 16, 32, 64).
        steps / batch_size / lr / weight_decay / warmup_steps: the optimisation budget.
        train_size / val_size: items of each split (synthetic: generated; CIFAR: a random subset).
    """

    image_size: int = 32
    widths: tuple[int, int, int] = (16, 32, 64)
    steps: int = 3000
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    train_size: int = 10000
    val_size: int = 1000


QUICK = TrainConfig(
    image_size=16, widths=(8, 16, 32), steps=800, batch_size=32, lr=0.05, warmup_steps=40, train_size=2000, val_size=500
)
FULL = TrainConfig()


@dataclass
class TrainedNet:
    """A trained net in eval mode and its record: recipe, data, training-loss curve, final errors."""

    net: nn.Module
    record: dict


def data_module(analyze: AnalyzeRun, config: TrainConfig) -> ClassificationData:
    """The study's data: synthetic shapes, or CIFAR-10 from ``analyze.data_path``; no augmentation."""
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
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
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


def checkpoint_path(analyze: AnalyzeRun, name: str) -> Path:
    """Where the degradation study keeps net ``name``: ``<out>/degradation/checkpoints/<name>.pt``."""
    return analyze.study_dir("degradation") / "checkpoints" / f"{name}.pt"


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
    """The recipe as saved in a checkpoint (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def trained_nets(analyze: AnalyzeRun, config: TrainConfig, names: tuple[str, ...] = NETS) -> dict[str, TrainedNet]:
    """The nets ``names`` trained with ``config``: loaded from the run folder's checkpoints when
    they match the recipe and data, trained and saved otherwise."""
    source = "cifar" if analyze.data_path else "synthetic"
    nets, splits = {}, None
    for name in names:
        path = checkpoint_path(analyze, name)
        trained = _load(path, config, source)
        if trained is None:
            print(f"[degradation] training {name} ({config.steps} steps)", flush=True)
            if splits is None:
                data = data_module(analyze, config)
                splits = {"train": split_tensors(data, True), "val": split_tensors(data, False)}
            trained = train_net(name, config, splits, data.num_classes, source, analyze.seed)
            atomic_save({"record": trained.record, "state_dict": trained.net.state_dict()}, path)
        nets[name] = trained
    return nets


def _smooth(values: list[float], window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot(nets: dict[str, TrainedNet]) -> plt.Figure:
    """He et al. fig. 6 in small: training loss curves (plain left, ResNet right) and the final
    training errors."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, family in zip(axes[:2], ("plain", "resnet"), strict=True):
        for name, trained in nets.items():
            if name.startswith(family):
                curve = trained.record["loss_curve"]
                ax.plot(_smooth(curve, max(1, len(curve) // 20)), label=name)
        ax.set_title(f"{family}: training loss", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    names = list(nets)
    errors = [100 * nets[n].record["train_error"] for n in names]
    axes[2].bar(names, errors, color=["tab:red", "tab:red", "tab:blue", "tab:blue"][: len(names)])
    for i, e in enumerate(errors):
        axes[2].text(i, e, f"{e:.1f}", ha="center", va="bottom", fontsize=8)
    axes[2].set_title("final training error (%)", fontsize=9)
    fig.tight_layout()
    return fig


def run(analyze: AnalyzeRun, config: TrainConfig) -> Verdict:
    """Train (or load) the four nets, plot and judge: train error plain56 > plain20, and
    resnet56 <= resnet20."""
    nets = trained_nets(analyze, config)
    err = {name: nets[name].record["train_error"] for name in NETS}
    numbers = {
        "train_error": err,
        "val_accuracy": {name: nets[name].record["val_accuracy"] for name in NETS},
        "final_loss": {name: float(np.mean(nets[name].record["loss_curve"][-20:])) for name in NETS},
        "data": nets["resnet20"].record["data"],
    }
    holds = err["plain56"] > err["plain20"] and err["resnet56"] <= err["resnet20"]
    verdict = Verdict(
        claim="plain-56 trains to a higher training error than plain-20; resnet-56 to no higher than resnet-20 "
        "(He et al. 2015, fig. 1 and 6)",
        measured="training error "
        + ", ".join(f"{n} {100 * e:.1f}%" for n, e in err.items())
        + f" after {config.steps} steps",
        holds=holds,
    )
    finish_study(analyze, "degradation", config, numbers, plot(nets), verdict)
    return verdict
