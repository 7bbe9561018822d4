"""archzoo against its peers, side by side: the same network built by archzoo and by a peer library,
trained on the same data for the same epochs, batch and optimiser, one after the other in one process
(archzoo first at the 1st, 3rd... seed, last at the others); prints the metric and wall-time ratios
per epoch and at the end.

    .venv/bin/python benchmarks/vs_peers.py --task segmentation --data synthetic --epochs 15
    .venv/bin/python benchmarks/vs_peers.py --task classification --data digits --epochs 10 --peers torchvision timm

- classification: archzoo's `resnet18` against torchvision's and timm's `resnet18`;
- segmentation: archzoo's `resnet18` with the U-Net decoder against segmentation_models_pytorch's
  `Unet("resnet18", encoder_weights=None)`;
- pose: archzoo's `resnet18` with SimpleBaseline's head against SimpleBaseline (Xiao et al. 2018):
  torchvision's ResNet-18 and three deconvolutions, written here.

archzoo trains exactly as `zoo fit --config <task>/resnet` does (its LightningModule, Trainer, callbacks
and loggers, its data module with its default augmentation), with the data and budget of this command.
A peer trains in a plain PyTorch loop, as a user of that library would write it, on the batches of the
same data module (unaugmented unless ``--peer-augment``), with the same optimiser, learning rate,
weight decay and schedule (or ``--peer-schedule onecycle``), the task's loss, and is scored by the same
metric on the same validation images. Data: ``synthetic`` (the built-in sets) or ``digits`` (the 1,797
8x8 handwritten digits scikit-learn ships, written to disk as an ImageFolder tree at 32 px for
classification, and as 64x64 scenes of one to three digits with 11-class masks for segmentation).
The peers come from the ``bench`` extra (``pip install -e '.[bench]'``), never from archzoo's runtime.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from tasks.heatmaps import decode_heatmaps, encode_heatmaps, heatmap_loss
from tasks.lightning_cli import ZooCLI
from tasks.metrics import PCK, segmentation_metrics
from tasks.prediction import write_mask_png

METRIC = {"classification": "val/acc1", "segmentation": "val/miou", "pose": "val/pck"}
PEERS = {"classification": ("torchvision", "timm"), "segmentation": ("smp",), "pose": ("simplebaseline",)}
IMAGE_SIZE = {"classification": 32, "segmentation": 64, "pose": 64}
ZOO_MODEL = ["--model.init_args.model", "resnet18", "--model.init_args.model_kwargs", "{}"]
"""archzoo's side is the peers' architecture whatever the task's config trains: `resnet18` (the config
of classification trains `resnet20`) with the head's own widths (SimpleBaseline's 256-channel
deconvolutions, where `pose/resnet` narrows them to 128)."""


# --- the real data set: scikit-learn's digits ---------------------------------------------------------
def write_digits(root: Path, seed: int = 0) -> dict[str, Path]:
    """scikit-learn's 1,797 digits as an ImageFolder tree (32 px, 80% train / 20% val) and a mask folder
    (64x64 scenes of 1-3 digits at random places and sizes; class = digit + 1, background 0)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    split = {"train": order[: int(0.8 * len(order))], "val": order[int(0.8 * len(order)) :]}
    folders = {"imagefolder": root / "imagefolder", "maskfolder": root / "maskfolder"}
    if (root / "done").exists():
        return folders
    for name, indices in split.items():
        for i in indices:
            pixels = (images[i] * 255).astype(np.uint8)
            out = folders["imagefolder"] / name / str(labels[i])
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).convert("RGB").save(out / f"{i:04d}.png")
        for k in range(len(indices)):
            canvas, mask = np.zeros((64, 64), np.float32), np.zeros((64, 64), np.uint8)
            for j in rng.choice(indices, size=rng.integers(1, 4), replace=False):
                side = int(rng.integers(20, 40))
                digit = np.asarray(Image.fromarray(images[j].astype(np.float32)).resize((side, side), Image.BILINEAR))
                top, left = (int(v) for v in rng.integers(0, 64 - side, 2))
                region = (slice(top, top + side), slice(left, left + side))
                canvas[region] = np.maximum(canvas[region], digit)
                mask[region][digit > 0.5] = labels[j] + 1
            out = folders["maskfolder"] / name
            (out / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray((canvas.clip(0, 1) * 255).astype(np.uint8)).convert("RGB").save(
                out / "images" / f"{k:04d}.png"
            )
            write_mask_png(out / "masks" / f"{k:04d}.png", mask)
    (root / "done").touch()
    return folders


def data_args(task: str, data: str, data_dir: Path, train_size: int | None, val_size: int | None) -> list[str]:
    """The data module's arguments for ``zoo fit``."""
    args = ["--data.init_args.num_workers", "2"]
    if train_size:
        args += ["--data.init_args.train_size", str(train_size)]
    if val_size:
        args += ["--data.init_args.val_size", str(val_size)]
    if data == "digits":
        folders = write_digits(data_dir)
        if task == "classification":
            args += ["--data.init_args.source", "imagefolder", "--data.init_args.root", str(folders["imagefolder"])]
        elif task == "segmentation":
            args += ["--data.init_args.source", "maskfolder", "--data.init_args.root", str(folders["maskfolder"])]
            args += ["--data.init_args.num_classes", "11"]
        else:
            raise SystemExit("digits has no keypoints: use --data synthetic for pose")
    return args


# --- the peers ---------------------------------------------------------------------------------------
class SimpleBaseline(nn.Module):
    """Xiao et al. 2018, sec. 2: torchvision's ResNet-18 without its pooling and classifier, three 4x4
    stride-2 deconvolutions of 256 channels with BN-ReLU, and a 1x1 conv to the joints (stride 4)."""

    def __init__(self, num_joints: int) -> None:
        super().__init__()
        import torchvision

        resnet = torchvision.models.resnet18()
        self.backbone = nn.Sequential(*list(resnet.children())[:-2])
        layers, chs = [], 512
        for _ in range(3):
            layers += [nn.ConvTranspose2d(chs, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(inplace=True)]
            chs = 256
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(256, num_joints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.deconv(self.backbone(x)))


def peer_model(peer: str, outputs: int) -> nn.Module:
    """The peer's network with ``outputs`` classes or joints."""
    if peer == "torchvision":
        import torchvision

        return torchvision.models.resnet18(num_classes=outputs)
    if peer == "timm":
        import timm

        return timm.create_model("resnet18", num_classes=outputs)
    if peer == "smp":
        import segmentation_models_pytorch as smp

        return smp.Unet("resnet18", encoder_weights=None, classes=outputs)
    return SimpleBaseline(outputs)


def peer_loss(task: str, output: torch.Tensor, target: Any, images: torch.Tensor, sigma: float) -> torch.Tensor:
    """The task's loss, as a plain loop computes it: cross-entropy (255 ignored), or heatmap MSE."""
    if task == "pose":
        heatmaps, weights = encode_heatmaps(
            target["keypoints"], target["visibility"], tuple(images.shape[-2:]), tuple(output.shape[-2:]), sigma
        )
        return heatmap_loss(output, heatmaps, weights)
    return F.cross_entropy(output, target, ignore_index=255)


def evaluate(task: str, net: nn.Module, loader: Any, outputs: int) -> float:
    """The headline metric of the task on the loader's batches."""
    net.eval()
    metric = {"classification": None, "segmentation": segmentation_metrics(outputs), "pose": PCK(0.2, "bbox")}[task]
    correct = total = 0
    with torch.no_grad():
        for images, target in loader:
            output = net(images)
            if task == "classification":
                correct += int((output.argmax(1) == target).sum())
                total += len(target)
            elif task == "segmentation":
                metric.update(output, target)
            else:
                keypoints, _ = decode_heatmaps(output, tuple(images.shape[-2:]))
                metric.update(keypoints, target["keypoints"], target["visibility"])
    net.train()
    if task == "classification":
        return correct / total
    value = metric.compute()
    return float(value["miou"] if task == "segmentation" else value)


def train_peer(
    task: str, peer: str, datamodule: pl.LightningDataModule, hp: dict, epochs: int, schedule: str, seed: int
) -> list[tuple[float, float]]:
    """A plain PyTorch loop: (metric, seconds since the start) after each epoch, validation included."""
    pl.seed_everything(seed, verbose=False)
    outputs = datamodule.num_classes if task != "pose" else datamodule.num_joints
    net = peer_model(peer, outputs)
    optimizer = (
        torch.optim.AdamW(net.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        if hp["optimizer"] == "adamw"
        else torch.optim.SGD(
            net.parameters(), lr=hp["lr"], momentum=0.9, nesterov=True, weight_decay=hp["weight_decay"]
        )
    )
    datamodule.setup("fit")
    train, val = datamodule.train_dataloader(), datamodule.val_dataloader()
    total = epochs * len(train)
    if schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp["lr"], total_steps=total)
    else:  # archzoo's: linear warm-up, then cosine, per step
        warmup = min(hp["warmup_steps"], total - 1)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min((step - warmup) / max(total - warmup, 1), 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    history, start = [], time.perf_counter()
    for _ in range(epochs):
        for images, target in train:
            loss = peer_loss(task, net(images), target, images, hp.get("sigma", 2.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        history.append((evaluate(task, net, val, outputs), time.perf_counter() - start))
    return history


# --- archzoo, as `zoo fit` runs it --------------------------------------------------------------------
class EpochClock(pl.Callback):
    """(metric, seconds since the fit started) at the end of every validation, like the peer's loop."""

    def __init__(self, key: str) -> None:
        self.key, self.history, self.start = key, [], 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:  # after the task's own epoch-end hook has logged the metric
            self.history.append((float(trainer.callback_metrics[self.key]), time.perf_counter() - self.start))


def zoo_cli(task: str, args: list[str], out: Path) -> ZooCLI:
    """`zoo fit --config <task>/resnet` with ``args``, built but not run."""
    from tasks.config_files import find_config

    return ZooCLI(
        args=["--config", str(find_config(f"{task}/resnet")), "--trainer.default_root_dir", str(out), *args],
        run=False,
    )


def rng_states() -> tuple[Any, ...]:
    """The random states `zoo fit`'s training draws from: torch's, NumPy's and Python's."""
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def train_zoo(cli: ZooCLI, task: str, rng: tuple[Any, ...]) -> list[tuple[float, float]]:
    """Fit as `zoo fit` does, from the random states ``rng`` that building ``cli`` left (`rng_states`),
    whichever side trained before."""
    torch.set_rng_state(rng[0])
    np.random.set_state(rng[1])
    random.setstate(rng[2])
    clock = EpochClock(METRIC[task])
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return clock.history


# --- the comparison ----------------------------------------------------------------------------------
def zoo_fit_args(args: argparse.Namespace, seed: int) -> list[str]:
    """The `zoo fit` arguments of archzoo's side: the peers' network, this command's data and budget."""
    return [
        *ZOO_MODEL,
        *data_args(args.task, args.data, args.data_dir, args.train_size, args.val_size),
        *["--trainer.max_epochs", str(args.epochs), "--data.init_args.batch_size", str(args.batch_size)],
        *["--model.init_args.lr", str(args.lr), "--model.init_args.optimizer", args.optimizer],
        *["--model.init_args.weight_decay", str(args.weight_decay), "--model.init_args.warmup_steps", "0"],
        *["--seed_everything", str(seed), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"],
        *(["--data.init_args.augment", args.augment] if args.augment else []),
        *(["--data.init_args.image_size", str(args.image_size)] if args.image_size else []),
        *args.zoo_args,
    ]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Per side, per seed, (metric, s) after each epoch. The order of the sides alternates with the seeds
    (archzoo first at the 1st, 3rd... seed, last at the others), so that a machine that slows down or
    speeds up during a run does not favour one side in the medians."""
    task, runs = args.task, {}
    for index, seed in enumerate(args.seeds):
        with tempfile.TemporaryDirectory() as out:
            cli = zoo_cli(task, zoo_fit_args(args, seed), Path(out))
            rng = rng_states()
            hp = dict(cli.model.hparams)
            settings = {k: v for k, v in cli.datamodule.hparams.items() if not k.startswith("_")}
            settings["augment"] = settings["augment"] if args.peer_augment else False
            peer_data = type(cli.datamodule)(**settings)
            sides = ["archzoo", *(PEERS[task] if args.peers is None else args.peers)]
            for side in sides if index % 2 == 0 else sides[::-1]:
                history = (
                    train_zoo(cli, task, rng)
                    if side == "archzoo"
                    else train_peer(task, side, peer_data, hp, args.epochs, args.peer_schedule, seed)
                )
                runs.setdefault(side, []).append(history)
    return {side: runs[side] for side in sides}  # archzoo first in the table


def table(task: str, runs: dict[str, list[list[tuple[float, float]]]]) -> str:
    """Per epoch: each side's metric and time (medians over seeds), and archzoo's ratios to each peer."""
    medians = {
        name: [
            (statistics.median(m for m, _ in epoch), statistics.median(t for _, t in epoch))
            for epoch in zip(*seeds, strict=True)
        ]
        for name, seeds in runs.items()
    }
    peers = [name for name in medians if name != "archzoo"]
    header = ["epoch", f"archzoo {METRIC[task]}", "archzoo s"]
    for peer in peers:
        header += [f"{peer} {METRIC[task]}", f"{peer} s", "metric ratio", "time ratio"]
    rows = []
    for epoch, (zoo_metric, zoo_time) in enumerate(medians["archzoo"], start=1):
        row = [str(epoch), f"{zoo_metric:.3f}", f"{zoo_time:.0f}"]
        for peer in peers:
            metric, seconds = medians[peer][epoch - 1]
            row += [
                f"{metric:.3f}",
                f"{seconds:.0f}",
                f"{zoo_metric / max(metric, 1e-9):.3f}",
                f"{zoo_time / seconds:.3f}",
            ]
        rows.append(row)
    from zoo.summary import markdown

    return markdown(header, rows, right=frozenset(range(len(header))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=tuple(PEERS), required=True)
    parser.add_argument("--data", choices=("synthetic", "digits"), default="synthetic")
    parser.add_argument("--data-dir", type=Path, default=Path("runs/vs_peers/digits"))
    parser.add_argument("--peers", nargs="*", help="default: all of the task's peers; none: archzoo alone")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--train-size", type=int, help="training images (synthetic default 2000)")
    parser.add_argument("--val-size", type=int, help="validation images (synthetic default 500)")
    parser.add_argument("--image-size", type=int, help=f"default: the config's ({IMAGE_SIZE})")
    parser.add_argument(
        "--augment", help="archzoo's augmentation: a level (default: the data module's, light), or parts (flip,color)"
    )
    parser.add_argument("--peer-augment", action="store_true", help="the peer trains on the same augmentation")
    parser.add_argument("--peer-schedule", choices=("cosine", "onecycle"), default="cosine")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, help="write the runs as JSON here")
    parser.add_argument("zoo_args", nargs="*", help="more `zoo fit` arguments for archzoo, after --")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print its table, and return the runs: per side, per seed, (metric, s) per epoch."""
    args = parse_args(argv)
    runs = compare(args)
    print(table(args.task, runs))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, indent=1))
    return runs


if __name__ == "__main__":
    main()
