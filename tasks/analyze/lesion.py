"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks", sec. 4, fig. 3 and 5): delete residual blocks from a trained ResNet at test time and
the matching blocks from a trained plain net. The claim: the ResNet loses little accuracy per
deleted block and degrades smoothly as more are deleted; the plain net collapses to chance.

Deleting a block replaces it by the identity; the downsampling blocks (the first of stages 2 and 3),
which change the shape, stay. The nets are the shared ones of `tasks.analyze.training`.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
from torch import nn
from torch.utils.data import TensorDataset

from .common import AnalyzeRun, Verdict, finish_study
from .training import FULL as FULL_NETS
from .training import MEDIUM as MEDIUM_NETS
from .training import QUICK as QUICK_NETS
from .training import TrainConfig, accuracy, data_module, loader, split_tensors, trained_nets


@dataclass(frozen=True)
class LesionConfig:
    """The trained nets' recipe, the (ResNet, plain net) pair lesioned, the most blocks deleted at
    once (``max_deleted``) and the random sets of deleted blocks averaged per count (``samples``)."""

    nets: TrainConfig = field(default_factory=lambda: FULL_NETS)
    pair: tuple[str, str] = ("resnet56", "plain56")
    max_deleted: int = 20
    samples: int = 8


QUICK = LesionConfig(nets=QUICK_NETS, max_deleted=10, samples=3)
MEDIUM = LesionConfig(nets=MEDIUM_NETS)
FULL = LesionConfig()


def deletable_blocks(net: nn.Module) -> list[tuple[str, int]]:
    """(stage name, index) of every block whose input and output shapes match (not downsampling)."""
    found = []
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for index, block in enumerate(getattr(net, stage, [])):
            last = getattr(block, f"conv{block.num_convs}")
            if block.conv1.stride == (1, 1) and block.conv1.in_channels == last.out_channels:
                found.append((stage, index))
    return found


def without(net: nn.Module, blocks: list[tuple[str, int]]) -> nn.Module:
    """A copy of ``net`` whose listed blocks are replaced by the identity."""
    lesioned = copy.deepcopy(net)
    for stage, index in blocks:
        getattr(lesioned, stage)[index] = nn.Identity()
    return lesioned


def measure(nets: dict, val: TensorDataset, config: LesionConfig, seed: int) -> dict:
    """Per net: the intact accuracy, the accuracy with each single block deleted, and the mean
    accuracy over random sets of k deleted blocks for k = 0..max_deleted."""
    batches = loader(val)
    rng = random.Random(seed)
    results = {}
    for name in config.pair:
        net = nets[name].net
        blocks = deletable_blocks(net)
        single = [accuracy(without(net, [block]), batches) for block in blocks]
        progressive = []
        for k in range(min(config.max_deleted, len(blocks)) + 1):
            runs = config.samples if 0 < k < len(blocks) else 1
            progressive.append(
                float(np.mean([accuracy(without(net, rng.sample(blocks, k)), batches) for _ in range(runs)]))
            )
        results[name] = {
            "intact": accuracy(net, batches),
            "single": single,
            "single_mean": float(np.mean(single)),
            "progressive": progressive,
            "blocks": [f"{s}.{i}" for s, i in blocks],
        }
    return results


def plot(results: dict, pair: tuple[str, str], chance: float) -> plt.Figure:
    """Veit et al. fig. 3 and 5: accuracy after deleting each single block, and after deleting k."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, colour in zip(pair, ("tab:blue", "tab:red"), strict=True):
        r = results[name]
        left.plot(
            100 * np.asarray(r["single"]), "o-", ms=3, color=colour, label=f"{name} (intact {100 * r['intact']:.0f}%)"
        )
        right.plot(100 * np.asarray(r["progressive"]), "o-", ms=3, color=colour, label=name)
    for ax in (left, right):
        ax.axhline(100 * chance, color="gray", ls="--", lw=0.8, label="chance")
        ax.set_ylabel("val accuracy (%)")
        ax.legend(fontsize=7)
    left.set_xlabel("deleted block (index among deletable)")
    right.set_xlabel("blocks deleted at random")
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: LesionConfig) -> Verdict:
    """Veit et al. fig. 3 and 5 on the measured accuracies (``numbers``: per net of ``config.pair``
    its ``intact`` accuracy, ``single_mean`` after one deletion and ``progressive`` after k; and
    ``chance``): the claim holds when the ResNet's mean single-deletion drop is under a quarter of its
    margin over chance (it loses little), while the plain net's single-deletion accuracy is within a
    quarter of its own margin of chance (it collapses)."""
    res_name, plain_name = config.pair
    res, plain, chance = numbers[res_name], numbers[plain_name], numbers["chance"]
    res_drop, plain_drop = res["intact"] - res["single_mean"], plain["intact"] - plain["single_mean"]
    loses_little = res_drop < 0.25 * (res["intact"] - chance)
    collapses = plain["single_mean"] - chance < 0.25 * (plain["intact"] - chance)
    return Verdict(
        claim="deleting one block costs a trained ResNet little accuracy, and more deletions degrade it smoothly; "
        "a plain net collapses to chance (Veit et al. 2016, fig. 3 and 5)",
        measured=f"{res_name} {100 * res['intact']:.1f}% -> {100 * res['single_mean']:.1f}% mean after one deletion "
        f"(-{100 * res_drop:.1f} pts), {100 * res['progressive'][-1]:.1f}% after {len(res['progressive']) - 1}; "
        f"{plain_name} {100 * plain['intact']:.1f}% -> {100 * plain['single_mean']:.1f}% "
        f"(-{100 * plain_drop:.1f} pts); "
        f"chance {100 * chance:.0f}%",
        holds=loses_little and collapses,
    )


def run(analyze: AnalyzeRun, config: LesionConfig) -> Verdict:
    """Delete blocks from the two trained nets, plot and judge the accuracies (`verdict`)."""
    nets = trained_nets(analyze, config.nets, config.pair)
    chance = 1 / nets[config.pair[0]].record["num_classes"]
    results = measure(nets, split_tensors(data_module(analyze, config.nets), train=False), config, analyze.seed)
    numbers = {**results, "chance": chance}
    outcome = verdict(numbers, config)
    finish_study(analyze, "lesion", config, numbers, plot(results, config.pair, chance), outcome)
    return outcome
