"""Layer responses of the trained nets (He et al. 2015, sec. 4.2, fig. 7): the standard deviation
of every 3x3 layer's output after BatchNorm and before the ReLU or the addition. The claim: the
ResNets' responses are smaller than the plain nets', and the deeper ResNet's smaller still, so the
residual functions are closer to zero than non-residual ones.

The nets are the shared ones of `tasks.analyze.training` (loaded from the run folder when present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from zoo.blocks import ResidualBlock

from .common import AnalyzeRun, Verdict, finish_study
from .training import FULL as FULL_NETS
from .training import MEDIUM as MEDIUM_NETS
from .training import NETS, TrainConfig, data_module, split_tensors, trained_nets
from .training import QUICK as QUICK_NETS


@dataclass(frozen=True)
class ResponsesConfig:
    """The trained nets' recipe (``nets``) and how many validation images to measure on."""

    nets: TrainConfig = field(default_factory=lambda: FULL_NETS)
    images: int = 500


QUICK = ResponsesConfig(nets=QUICK_NETS, images=256)
MEDIUM = ResponsesConfig(nets=MEDIUM_NETS)
FULL = ResponsesConfig()


def response_layers(net: nn.Module) -> list[nn.Module]:
    """The norm after every 3x3 conv in forward order: the stem's, then ``bn1``, ``bn2`` of each block."""
    layers = [net.bn1]
    for module in net.modules():
        if isinstance(module, ResidualBlock):
            layers += [getattr(module, f"bn{i}") for i in range(1, module.num_convs + 1)]
    return layers


@torch.no_grad()
def response_stds(net: nn.Module, images: torch.Tensor) -> list[float]:
    """Per 3x3 layer: the std of its BN output over images and positions, averaged over channels."""
    stds: list[float] = []
    hooks = [
        layer.register_forward_hook(lambda m, i, out: stds.append(out.transpose(0, 1).flatten(1).std(1).mean().item()))
        for layer in response_layers(net)
    ]
    try:
        net.eval()(images)
    finally:
        for hook in hooks:
            hook.remove()
    return stds


def plot(stds: dict[str, list[float]]) -> plt.Figure:
    """He et al. fig. 7: response std by layer index (top) and sorted by magnitude (bottom)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5))
    styles = {
        "plain20": ("tab:red", ":"),
        "plain56": ("tab:red", "-"),
        "resnet20": ("tab:blue", ":"),
        "resnet56": ("tab:blue", "-"),
    }
    for name, values in stds.items():
        colour, style = styles[name]
        top.plot(values, style, color=colour, label=name)
        bottom.plot(sorted(values, reverse=True), style, color=colour, label=name)
    top.set_xlabel("layer index (original)")
    bottom.set_xlabel("layer index (sorted by magnitude)")
    for ax in (top, bottom):
        ax.set_ylabel("std")
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def verdict(numbers: dict) -> Verdict:
    """He et al. fig. 7 on the measured mean response std per net (``numbers["mean_std"]``): the
    claim holds when resnet-n's is below plain-n's for n = 20 and 56, and resnet56's below
    resnet20's (the deeper ResNet's residual functions are closer to zero still)."""
    mean = numbers["mean_std"]
    holds = (
        mean["resnet20"] < mean["plain20"]
        and mean["resnet56"] < mean["plain56"]
        and mean["resnet56"] < mean["resnet20"]
    )
    return Verdict(
        claim="the ResNets' 3x3 layer responses have smaller std than the plain nets', the deeper ResNet's smaller "
        "still (He et al. 2015, fig. 7)",
        measured="mean response std " + ", ".join(f"{n} {v:.3f}" for n, v in mean.items()),
        holds=holds,
    )


def run(analyze: AnalyzeRun, config: ResponsesConfig) -> Verdict:
    """Measure the response stds of the four trained nets, plot and judge them (`verdict`)."""
    nets = trained_nets(analyze, config.nets)
    images = split_tensors(data_module(analyze, config.nets), train=False).tensors[0][: config.images]
    stds = {name: response_stds(nets[name].net, images) for name in NETS}
    numbers = {"mean_std": {name: float(np.mean(values)) for name, values in stds.items()}, "std": stds}
    outcome = verdict(numbers)
    finish_study(analyze, "responses", config, numbers, plot(stds), outcome)
    return outcome
