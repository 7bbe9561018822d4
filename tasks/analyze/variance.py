"""Activation variance at initialisation, block by block (Prince, "Understanding Deep Learning",
sec. 11.4 and fig. 11.6).

A stack of pre-activation residual blocks ``x_{k+1} = x_k + f_k(x_k)`` with He-initialised
weights keeps the variance of each branch equal to that of its input, so the variance doubles at
every block (log2 slope 1). Scaling each sum by 1/sqrt(2) keeps it flat; BatchNorm at the head of
the branch makes every branch output unit variance, so the variance grows linearly, k + 1 at
block k. The stacks are `zoo.blocks.BasicBlock` in pre-activation order with circular padding, so
every output sees a full 3x3 fan-in as in the book's fully connected stacks. Narrow stacks
(16 channels) fall short of the laws at depth, since one block's gain is then widely spread; 64
channels and more match them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from zoo.blocks import BasicBlock
from zoo.models.base import he_init

from .common import AnalyzeRun, Verdict, finish_study

CASES = {
    "he": dict(norm="none", residual_scale=1.0),
    "scaled": dict(norm="none", residual_scale=1 / math.sqrt(2)),
    "batchnorm": dict(norm="batch", residual_scale=1.0),
}
"""The three stacks of UDL fig. 11.6: plain He init, sums scaled by 1/sqrt(2), BN in the branch."""


@dataclass(frozen=True)
class VarianceConfig:
    """Size of the stacks: ``blocks`` residual blocks of ``channels`` channels on a batch of
    ``batch`` random ``size`` x ``size`` inputs, averaged over ``repeats`` random initialisations."""

    blocks: int = 64
    channels: int = 128
    size: int = 4
    batch: int = 32
    repeats: int = 4


QUICK = VarianceConfig(blocks=50, channels=64, repeats=2)
MEDIUM = QUICK  # the medium budget trains larger nets; this study trains none
FULL = VarianceConfig()


def residual_stack(blocks: int, channels: int, norm: str, residual_scale: float) -> nn.Sequential:
    """``blocks`` pre-activation `BasicBlock`s (He et al. 2016) with identity shortcuts, He
    (fan-in) initialised, with circular padding so no output loses fan-in at the border."""
    stack = nn.Sequential(
        *[BasicBlock(channels, channels, order="pre", norm=norm, residual_scale=residual_scale) for _ in range(blocks)]
    )
    he_init(stack, mode="fan_in")
    for module in stack.modules():
        if isinstance(module, nn.Conv2d):
            module.padding_mode = "circular"
    return stack


@torch.no_grad()
def block_variances(stack: nn.Sequential, x: torch.Tensor) -> list[float]:
    """The variance of the input and of every block's output (k = 0..len(stack)), in training
    mode so BatchNorm uses the batch's statistics, as at the first step of training."""
    stack.train()
    variances = [x.var().item()]
    for block in stack:
        x = block(x)
        variances.append(x.var().item())
    return variances


def measure(config: VarianceConfig, seed: int = 0) -> dict:
    """Per case: the variance per block (geometric mean over ``repeats`` initialisations) and the
    per-block laws, estimated without bias from every block of every repeat: the mean growth
    factor var(k+1) / var(k) (2 for He, 1 when scaled) and its log2, the mean increment
    var(k+1) - var(k) (1 with BN), and var(k) / (k + 1) at the last block.

    The factor of one block is random (it depends on that block's weights), and at finite width
    its spread is wide, so the slope of log variance (``log2_slope_fit``) sits below log2 of the
    mean factor (Jensen); the law is about the mean, E[var(k+1) | var(k)] = 2 var(k).
    """
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for case, options in CASES.items():
        runs = []
        for repeat in range(config.repeats):
            torch.manual_seed(seed * 1000 + repeat)
            stack = residual_stack(config.blocks, config.channels, **options)
            x = torch.randn(config.batch, config.channels, config.size, config.size, generator=generator)
            runs.append(block_variances(stack, x))
        runs = np.asarray(runs)
        variance = np.exp(np.log(runs).mean(0))
        k = np.arange(len(variance))
        factor = float((runs[:, 1:] / runs[:, :-1]).mean())
        results[case] = {
            "variance": variance.tolist(),
            "growth_factor": factor,
            "log2_growth": math.log2(factor),
            "increment": float((runs[:, 1:] - runs[:, :-1]).mean()),
            "log2_slope_fit": float(np.polyfit(k, np.log2(variance), 1)[0]),
            "last_over_k_plus_1": float(variance[-1] / len(variance)),
        }
    return results


def plot(results: dict) -> plt.Figure:
    """UDL fig. 11.6 as three panels: log2 variance vs block for each case."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    titles = {"he": "He init: x2 per block", "scaled": "sum x 1/sqrt(2): flat", "batchnorm": "BN in branch: k+1"}
    for ax, (case, result) in zip(axes, results.items(), strict=True):
        variance = np.asarray(result["variance"])
        k = np.arange(len(variance))
        ax.plot(k, variance, "o-", ms=2, label="measured")
        expected = {"he": 2.0**k * variance[0], "scaled": np.full_like(variance, variance[0]), "batchnorm": k + 1.0}
        ax.plot(k, expected[case], "--", color="gray", label="law")
        ax.set_yscale("log", base=2)
        ax.set_title(titles[case], fontsize=9)
        ax.set_xlabel("block k")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("activation variance")
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: VarianceConfig) -> Verdict:
    """UDL fig. 11.6 on the measured per-block laws (``numbers`` of `measure`): the claim holds when
    the He stack's log2 growth factor is within 0.15 of 1 (doubling), the scaled stack's within 0.15
    of 0 (flat), and the BN stack's increment per block and var(k) / (k + 1) at the last block are
    both within 0.25 of 1 (growth as k + 1)."""
    he, scaled, bn = numbers["he"], numbers["scaled"], numbers["batchnorm"]
    holds = (
        abs(he["log2_growth"] - 1) < 0.15
        and abs(scaled["log2_growth"]) < 0.15
        and abs(bn["increment"] - 1) < 0.25
        and abs(bn["last_over_k_plus_1"] - 1) < 0.25
    )
    return Verdict(
        claim="at init the variance doubles per residual block (He), stays flat with 1/sqrt(2) scaling, "
        "grows as k+1 with BN in the branch (UDL fig. 11.6)",
        measured=f"{config.blocks} blocks: He x{he['growth_factor']:.2f}/block (log2 {he['log2_growth']:.2f}); "
        f"scaled x{scaled['growth_factor']:.2f}/block; BN +{bn['increment']:.2f}/block, "
        f"var(k)/(k+1) = {bn['last_over_k_plus_1']:.2f} at k={config.blocks}",
        holds=holds,
    )


def run(analyze: AnalyzeRun, config: VarianceConfig) -> Verdict:
    """Measure, plot and judge (`verdict`) the three growth laws of UDL fig. 11.6."""
    results = measure(config, analyze.seed)
    outcome = verdict(results, config)
    finish_study(analyze, "variance", config, results, plot(results), outcome)
    return outcome
