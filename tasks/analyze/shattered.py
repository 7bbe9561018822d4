"""Shattered gradients (Balduzzi et al. 2017, "The Shattered Gradients Problem"; Prince,
"Understanding Deep Learning", fig. 11.3).

Nets with a scalar input, He init and ``width`` ReLU units per layer: one hidden layer, a deep
plain stack and a deep residual stack, each with and without BatchNorm. Along a line of evenly
spaced inputs, the derivative d output / d input of a shallow net changes slowly (it is correlated
at short lags), the deep plain net's is close to white noise, and the residual nets keep much more
correlation. The study reports the autocorrelation of the derivative by lag.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .common import AnalyzeRun, Verdict, finish_study


@dataclass(frozen=True)
class ShatteredConfig:
    """``points`` inputs evenly spaced on [-2, 2]; nets of ``width`` units, ``depth`` hidden layers
    (plain) or ``depth`` blocks of one hidden layer each (residual); lags up to ``max_lag``;
    autocorrelations averaged over ``repeats`` initialisations."""

    points: int = 1024
    width: int = 200
    depth: int = 50
    max_lag: int = 64
    repeats: int = 8


QUICK = ShatteredConfig(points=256, depth=24, max_lag=32, repeats=4)
FULL = ShatteredConfig()


def _linear(n_in: int, n_out: int) -> nn.Linear:
    """He (fan-in) normal weights; torch's default bias, U(-1/sqrt(n_in), 1/sqrt(n_in)). Non-zero
    biases matter: with zero biases a scalar-input ReLU net is linear on each side of 0."""
    layer = nn.Linear(n_in, n_out)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")  # He et al. 2015
    return layer


def _norm(width: int, batchnorm: bool) -> nn.Module:
    """BatchNorm whose statistics are those of the last batch seen (momentum None, one pass), or identity."""
    return nn.BatchNorm1d(width, momentum=None) if batchnorm else nn.Identity()


class ResidualMLPBlock(nn.Module):
    """``x + W2 relu(norm(W1 relu(norm(x))))`` on vectors: the pre-activation block of He et al. 2016
    for scalar-input nets, as in Balduzzi et al. 2017, sec. 4. ``batchnorm`` puts BN before each ReLU."""

    def __init__(self, width: int, batchnorm: bool) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _norm(width, batchnorm),
            nn.ReLU(),
            _linear(width, width),
            _norm(width, batchnorm),
            nn.ReLU(),
            _linear(width, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def make_net(kind: str, width: int, depth: int) -> nn.Sequential:
    """A scalar-in, scalar-out net: "shallow" (1 hidden layer), "plain" or "plain_bn" (``depth``
    hidden layers, BN before each ReLU in the latter), "resnet" or "resnet_bn" (``depth`` residual
    blocks between a linear stem and a linear head)."""
    if kind == "shallow":
        return nn.Sequential(_linear(1, width), nn.ReLU(), _linear(width, 1))
    if kind in ("plain", "plain_bn"):
        layers = [_linear(1, width)]
        for _ in range(depth - 1):
            layers += [_norm(width, kind == "plain_bn"), nn.ReLU(), _linear(width, width)]
        return nn.Sequential(*layers, _norm(width, kind == "plain_bn"), nn.ReLU(), _linear(width, 1))
    if kind in ("resnet", "resnet_bn"):
        blocks = [ResidualMLPBlock(width, kind == "resnet_bn") for _ in range(depth)]
        return nn.Sequential(_linear(1, width), *blocks, _linear(width, 1))
    raise ValueError(f"kind={kind!r} is not a net of this study; choose one of {', '.join(KINDS)}.")


KINDS = ("shallow", "plain", "plain_bn", "resnet", "resnet_bn")


def input_gradients(net: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """d output / d input at every point of ``x`` (N, 1). BatchNorm uses the statistics of the whole
    line of inputs (one training-mode pass, momentum None keeps them), then runs in eval mode so each
    point's derivative is its own, not mixed with the other points'."""
    with torch.no_grad():
        net.train()(x)
    net.eval()
    x = x.clone().requires_grad_(True)
    net(x).sum().backward()
    return x.grad[:, 0].numpy().astype(np.float64)


def autocorrelation(signal: np.ndarray, max_lag: int) -> list[float]:
    """Normalised autocorrelation at lags 0..max_lag (1 at lag 0): the mean of z[t] z[t+lag] over the
    standardised sequence z (Balduzzi et al. 2017, fig. 1)."""
    z = (signal - signal.mean()) / (signal.std() + 1e-30)
    return [float(np.mean(z[: len(z) - lag] * z[lag:])) for lag in range(max_lag + 1)]


def measure(config: ShatteredConfig, seed: int = 0) -> dict:
    """Per net: the mean autocorrelation by lag over the repeats, its value at lag 1, and one
    example derivative curve (the first repeat's) for the plot."""
    x = torch.linspace(-2, 2, config.points).unsqueeze(1)
    results = {}
    for kind in KINDS:
        curves, example = [], None
        for repeat in range(config.repeats):
            torch.manual_seed(seed * 1000 + repeat)
            gradient = input_gradients(make_net(kind, config.width, config.depth), x)
            example = gradient if example is None else example
            curves.append(autocorrelation(gradient, config.max_lag))
        mean = np.mean(curves, 0)
        results[kind] = {"autocorrelation": mean.tolist(), "lag1": float(mean[1]), "gradient": example.tolist()}
    return results


def plot(results: dict, config: ShatteredConfig) -> plt.Figure:
    """Left: an example derivative along the inputs per net (scaled to unit std); right: the
    autocorrelation by lag (UDL fig. 11.3)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.linspace(-2, 2, config.points)
    for offset, (kind, result) in enumerate(results.items()):
        g = np.asarray(result["gradient"])
        left.plot(x, (g - g.mean()) / (g.std() + 1e-30) + 4 * offset, lw=0.7, label=kind)
        right.plot(result["autocorrelation"], "o-", ms=2, label=f"{kind} (lag 1: {result['lag1']:.2f})")
    left.set_xlabel("input x")
    left.set_ylabel("d out / d x (standardised, offset)")
    left.set_yticks([])
    right.axhline(0, color="gray", lw=0.5)
    right.set_xlabel("lag (input steps)")
    right.set_ylabel("autocorrelation")
    right.legend(fontsize=7)
    fig.suptitle(f"Shattered gradients: width {config.width}, depth {config.depth}", fontsize=9)
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: ShatteredConfig) -> Verdict:
    """Balduzzi et al. 2017 (fig. 1) and UDL fig. 11.3 on the measured lag-1 autocorrelations
    (``numbers[kind]["lag1"]`` per net of `KINDS`): the claim holds when a deep plain net's
    derivative is near white noise (lag 1 below 0.2 in the plain or the plain BN net; the paper's
    nets have BN), while the shallow net and both residual nets keep correlation (lag 1 at least 0.5)."""
    lag1 = {kind: numbers[kind]["lag1"] for kind in KINDS}
    kept = min(lag1["shallow"], lag1["resnet"], lag1["resnet_bn"])
    holds = min(lag1["plain"], lag1["plain_bn"]) < 0.2 and kept >= 0.5
    return Verdict(
        claim=f"d out/d in of a deep plain net ({config.depth} layers) is near white noise; the shallow and "
        "residual nets keep correlation at short lags (Balduzzi et al. 2017; UDL fig. 11.3)",
        measured="lag-1 autocorrelation " + ", ".join(f"{k} {v:.2f}" for k, v in lag1.items()),
        holds=holds,
    )


def run(analyze: AnalyzeRun, config: ShatteredConfig) -> Verdict:
    """Measure the derivatives' autocorrelations, plot and judge them (`verdict`)."""
    results = measure(config, analyze.seed)
    outcome = verdict(results, config)
    finish_study(analyze, "shattered", config, results, plot(results, config), outcome)
    return outcome
