"""The unravelled view of a ResNet (Veit et al. 2016, sec. 3 and 5, fig. 6; Prince, "Understanding
Deep Learning", sec. 11.2): n residual blocks make 2^n paths from input to output, and the number
of paths of length k (through k residual branches) is Binomial(n, 1/2) times 2^n. The claim: in a
trained net the gradient through a path shrinks fast with its length, so almost all the gradient
comes from paths far shorter than the net.

Veit's method: forward the whole net once, then backpropagate through exactly k chosen residual
branches, every other block passing gradient through its skip only; the norm of the gradient at the
input of the first block is that of the paths through those k branches. Averaged over random
choices of the k branches, it gives the gradient per path of length k; times C(n, k) it gives the
total gradient that paths of length k carry. The net is the trained resnet56 of
`tasks.analyze.training`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import ResidualBlock

from .common import AnalyzeRun, Verdict, finish_study
from .training import FULL as FULL_NETS
from .training import MEDIUM as MEDIUM_NETS
from .training import QUICK as QUICK_NETS
from .training import TrainConfig, data_module, split_tensors, trained_nets


@dataclass(frozen=True)
class PathsConfig:
    """The trained nets' recipe, the ResNet unravelled, images in the batch whose loss is
    backpropagated, and random sets of branches sampled per path length."""

    nets: TrainConfig = field(default_factory=lambda: FULL_NETS)
    model: str = "resnet56"
    images: int = 64
    samples: int = 16


QUICK = PathsConfig(nets=QUICK_NETS, images=32, samples=4)
MEDIUM = PathsConfig(nets=MEDIUM_NETS, images=32, samples=4)
FULL = PathsConfig()


def residual_blocks(net: nn.Module) -> list[ResidualBlock]:
    """The net's residual blocks in forward order."""
    return [m for m in net.modules() if isinstance(m, ResidualBlock)]


def _gated_block(block: ResidualBlock, x: torch.Tensor, through_branch: bool) -> torch.Tensor:
    """A post-activation block whose forward value is unchanged but whose gradient flows back through
    the residual branch only (``through_branch``) or through the skip only."""
    branch_in, skip_in = (x, x.detach()) if through_branch else (x.detach(), x)
    identity = block.downsample(skip_in) if block.downsample is not None else skip_in
    return block.relu(block._branch(branch_in) + identity)


def path_gradient(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, branches: set[int]) -> float:
    """Mean per-image norm of d loss / d (input of the first block) through the paths that take
    exactly the residual branches of the blocks in ``branches`` (indices in forward order)."""
    blocks = residual_blocks(net)
    if any(b.order != "post" or b.plain or b.residual_scale != 1.0 for b in blocks):
        raise ValueError("the paths study unravels post-activation ResNets with identity sums (resnet20/56...)")
    net.eval()
    with torch.no_grad():
        stem = net.maxpool(net.relu(net.bn1(net.conv1(images))))
    x = start = stem.requires_grad_(True)
    for index, block in enumerate(blocks):
        x = _gated_block(block, x, index in branches)
    F.cross_entropy(net.forward_head(x), labels, reduction="sum").backward()
    return start.grad.flatten(1).norm(dim=1).mean().item()


def measure(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: PathsConfig, seed: int) -> dict:
    """Per path length k = 0..n: the mean gradient norm of one path, the fraction of paths
    (Binomial(n, 1/2)) and the fraction of the total gradient; the gradient-weighted mean length and
    the lengths holding the central 90% of the gradient."""
    n = len(residual_blocks(net))
    rng = random.Random(seed)
    per_path = []
    for k in range(n + 1):
        runs = 1 if k in (0, n) else config.samples
        per_path.append(
            float(np.mean([path_gradient(net, images, labels, set(rng.sample(range(n), k))) for _ in range(runs)]))
        )
    counts = np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.float64)
    share = counts / counts.sum()
    total = share * np.asarray(per_path)
    total = total / total.sum()
    cumulative = np.cumsum(total)
    return {
        "blocks": n,
        "per_path_gradient": per_path,
        "path_share": share.tolist(),
        "gradient_share": total.tolist(),
        "mean_path_length": n / 2,
        "effective_mean_length": float((np.arange(n + 1) * total).sum()),
        "effective_range": [int(np.searchsorted(cumulative, 0.05)), int(np.searchsorted(cumulative, 0.95))],
    }


def plot(results: dict) -> plt.Figure:
    """Veit et al. fig. 6: (a) paths per length, (b) gradient per path, (c) total gradient per length."""
    k = np.arange(results["blocks"] + 1)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].bar(k, results["path_share"], color="gray")
    axes[0].set_title("(a) share of paths of length k", fontsize=9)
    axes[1].semilogy(k, results["per_path_gradient"], "o-", ms=3)
    axes[1].set_title("(b) gradient norm of one path", fontsize=9)
    axes[2].bar(k, results["gradient_share"], color="tab:blue")
    lo, hi = results["effective_range"]
    axes[2].axvspan(lo - 0.5, hi + 0.5, color="tab:orange", alpha=0.2, label=f"90% of gradient: {lo}-{hi}")
    axes[2].set_title("(c) share of total gradient", fontsize=9)
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("path length k")
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: PathsConfig) -> Verdict:
    """Veit et al. fig. 6 on the measured gradient per path length (``numbers`` of `measure`): the
    claim holds when the gradient-weighted mean path length is at most a third of the ``blocks``,
    far below the typical path's half."""
    n, effective = numbers["blocks"], numbers["effective_mean_length"]
    lo, hi = numbers["effective_range"]
    return Verdict(
        claim="most of the gradient of a trained ResNet flows through paths far shorter than the net "
        "(Veit et al. 2016, fig. 6)",
        measured=f"{config.model} ({n} blocks, typical path {n / 2:.1f}): gradient-weighted mean path length "
        f"{effective:.1f}, 90% of the gradient from lengths {lo}-{hi}",
        holds=effective <= n / 3,
    )


def run(analyze: AnalyzeRun, config: PathsConfig) -> Verdict:
    """Measure the gradient per path length of the trained ResNet, plot and judge it (`verdict`)."""
    trained = trained_nets(analyze, config.nets, (config.model,))[config.model]
    images, labels = split_tensors(data_module(analyze, config.nets), train=False).tensors
    results = measure(trained.net, images[: config.images], labels[: config.images], config, analyze.seed)
    outcome = verdict(results, config)
    finish_study(analyze, "paths", config, results, plot(results), outcome)
    return outcome
