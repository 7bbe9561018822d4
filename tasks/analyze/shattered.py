"""Shattered gradients, by depth and by initialisation (Balduzzi et al. 2017, "The Shattered
Gradients Problem", sec. 3-4; Prince, "Understanding Deep Learning", fig. 11.3).

Nets with a scalar input and ``width`` ReLU units per layer: plain stacks and residual stacks, each
with and without BatchNorm. Along a line of evenly spaced inputs, the derivative d output / d input
of a shallow net changes slowly (it is correlated at short lags); Balduzzi et al. show that the
correlation decays exponentially with depth in feedforward nets (their 2^-L, sec. 3) and sublinearly
in resnets with BatchNorm (about 1/sqrt(L), sec. 4). The study measures the autocorrelation of the
derivative at lags 1 and 8 against depth over many seeds, fits both laws with free parameters
(`tasks.analyze.decay`), and sweeps the initialisation of the nets without BatchNorm at one depth:
the bias scale (zero, torch's default, variance 1/fan-in) and the weight gain (1 and 2). Without
biases a scalar-input ReLU net is linear on each side of 0, so its derivative cannot shatter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .common import AnalyzeRun, Verdict, finish_study, mean_interval
from .decay import LAWS, fit_decay

FAMILIES = ("plain", "plain_bn", "resnet", "resnet_bn")
"""Plain and residual nets, without and with BatchNorm before each ReLU."""

PAIRS = {"with BN": ("plain_bn", "resnet_bn"), "without BN": ("plain", "resnet")}
"""The (plain, residual) pair of each set-up the claim is judged in; the paper's nets have BN."""

COLOURS = {"plain": "tab:red", "plain_bn": "tab:orange", "resnet": "tab:blue", "resnet_bn": "tab:cyan"}


@dataclass(frozen=True)
class Init:
    """How a linear layer is initialised: weights normal with variance ``gain`` / fan-in (2: He et
    al. 2015; 1: LeCun, UDL fig. 11.3's "Glorot without the factor of two"), and biases ``"zero"``,
    torch's ``"default"`` U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or normal with variance 1/fan-in
    (``"fan_in"``)."""

    bias: str = "default"
    gain: float = 2.0

    @property
    def label(self) -> str:
        """``bias=<bias>, gain=<gain>``: the key of the initialisation sweep's results."""
        return f"bias={self.bias}, gain={self.gain:g}"


HE = Init()
"""The depth sweep's initialisation: He weights, torch's default biases."""

INITS = tuple(Init(bias, gain) for bias in ("zero", "default", "fan_in") for gain in (1.0, 2.0))
"""The initialisation sweep: three bias scales by two weight gains."""


@dataclass(frozen=True)
class ShatteredConfig:
    """``points`` inputs evenly spaced on [-2, 2]; nets of ``width`` units and each of ``depths``
    hidden layers (plain) or blocks of two layers (residual), ``seeds`` initialisations each; the
    autocorrelation at ``lags`` (and up to ``max_lag`` for the plot); the initialisation sweep at
    ``init_depth`` on the nets without BN; ``resamples`` bootstrap resamplings of the seeds for the
    intervals of the fitted half-depths."""

    points: int = 256
    width: int = 200
    depths: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32, 50)
    seeds: int = 16
    lags: tuple[int, ...] = (1, 8)
    max_lag: int = 32
    init_depth: int = 24
    resamples: int = 200

    def __post_init__(self) -> None:
        if self.init_depth not in self.depths:  # the sweep reuses, and the plot reads, that depth's cells
            raise ValueError(f"init_depth {self.init_depth} must be one of depths {self.depths}")


QUICK = ShatteredConfig()
MEDIUM = QUICK  # the medium budget trains larger nets; this study trains none
FULL = ShatteredConfig(depths=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40, 50, 64, 80, 100), seeds=64, resamples=1000)


def _linear(n_in: int, n_out: int, init: Init) -> nn.Linear:
    """A linear layer initialised as ``init`` says."""
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.normal_(0.0, math.sqrt(init.gain / n_in))
        if init.bias == "zero":
            layer.bias.zero_()
        elif init.bias == "default":
            layer.bias.uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in))
        elif init.bias == "fan_in":
            layer.bias.normal_(0.0, math.sqrt(1 / n_in))
        else:
            raise ValueError(f"bias={init.bias!r}: choose zero, default or fan_in")
    return layer


def _norm(width: int, batchnorm: bool) -> nn.Module:
    """BatchNorm (its statistics are the line's, see `input_gradients`), or identity."""
    return nn.BatchNorm1d(width) if batchnorm else nn.Identity()


class ResidualMLPBlock(nn.Module):
    """``x + W2 relu(norm(W1 relu(norm(x))))`` on vectors: the pre-activation block of He et al. 2016
    for scalar-input nets, as in Balduzzi et al. 2017, sec. 4. ``batchnorm`` puts BN before each ReLU."""

    def __init__(self, width: int, batchnorm: bool, init: Init) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _norm(width, batchnorm),
            nn.ReLU(),
            _linear(width, width, init),
            _norm(width, batchnorm),
            nn.ReLU(),
            _linear(width, width, init),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def make_net(family: str, width: int, depth: int, init: Init = HE) -> nn.Sequential:
    """A scalar-in, scalar-out net of `FAMILIES`: "plain" or "plain_bn" (``depth`` hidden layers,
    BN before each ReLU in the latter; depth 1 is the shallow net), "resnet" or "resnet_bn" (``depth``
    residual blocks between a linear stem and a linear head)."""
    if family in ("plain", "plain_bn"):
        layers = [_linear(1, width, init)]
        for _ in range(depth - 1):
            layers += [_norm(width, family == "plain_bn"), nn.ReLU(), _linear(width, width, init)]
        return nn.Sequential(*layers, _norm(width, family == "plain_bn"), nn.ReLU(), _linear(width, 1, init))
    if family in ("resnet", "resnet_bn"):
        blocks = [ResidualMLPBlock(width, family == "resnet_bn", init) for _ in range(depth)]
        return nn.Sequential(_linear(1, width, init), *blocks, _linear(width, 1, init))
    raise ValueError(f"family={family!r} is not a net of this study; choose one of {', '.join(FAMILIES)}.")


def _with_tangent(module: nn.Module, x: torch.Tensor, tangent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``module``'s output and its derivative along ``tangent`` (forward mode). BatchNorm normalises
    as in training mode, with the mean and (biased) variance of the whole batch ``x``, and holds
    them fixed in the derivative."""
    if isinstance(module, nn.Sequential):
        for layer in module:
            x, tangent = _with_tangent(layer, x, tangent)
        return x, tangent
    if isinstance(module, ResidualMLPBlock):
        branch, branch_tangent = _with_tangent(module.branch, x, tangent)
        return x + branch, tangent + branch_tangent
    if isinstance(module, nn.Linear):
        return module(x), tangent @ module.weight.T
    if isinstance(module, nn.ReLU):
        active = x > 0
        return x * active, tangent * active
    if isinstance(module, nn.BatchNorm1d):
        scale = module.weight / torch.sqrt(x.var(0, unbiased=False) + module.eps)
        return (x - x.mean(0)) * scale + module.bias, tangent * scale
    if isinstance(module, nn.Identity):
        return x, tangent
    raise TypeError(f"no forward-mode rule for {type(module).__name__}")


@torch.no_grad()
def input_gradients(net: nn.Sequential, x: torch.Tensor) -> np.ndarray:
    """d output / d input at every point of ``x`` (N, 1), in one forward pass. BatchNorm uses the
    statistics of the whole line of inputs, held fixed, so each point's derivative is its own, not
    mixed with the other points' (Balduzzi et al. 2017, sec. 4)."""
    _, tangent = _with_tangent(net, x, torch.ones_like(x))
    return tangent[:, 0].numpy().astype(np.float64)


def autocorrelation(signal: np.ndarray, max_lag: int) -> list[float]:
    """Normalised autocorrelation at lags 0..max_lag (1 at lag 0): the mean of z[t] z[t+lag] over the
    standardised sequence z (Balduzzi et al. 2017, fig. 1)."""
    z = (signal - signal.mean()) / (signal.std() + 1e-30)
    return [float(np.mean(z[: len(z) - lag] * z[lag:])) for lag in range(max_lag + 1)]


def seeded_gradients(family: str, depth: int, init: Init, config: ShatteredConfig, seed: int, index: int) -> np.ndarray:
    """d output / d input along the line for the ``index``-th net of a (family, depth, init) cell."""
    torch.manual_seed(seed * 100_000 + index)
    x = torch.linspace(-2, 2, config.points).unsqueeze(1)
    return input_gradients(make_net(family, config.width, depth, init), x)


def measure_cell(family: str, depth: int, init: Init, config: ShatteredConfig, seed: int) -> dict:
    """One (family, depth, init) over ``config.seeds`` seeds: the autocorrelation per seed at each lag
    of ``config.lags`` (``lag<k>``, mean and 95% interval over the seeds, and ``per_seed``) and its
    mean by lag up to ``config.max_lag``."""
    longest = max(config.max_lag, *config.lags)
    curves = np.asarray(
        [
            autocorrelation(seeded_gradients(family, depth, init, config, seed, index), longest)
            for index in range(config.seeds)
        ]
    )
    cell = {f"lag{lag}": {**mean_interval(curves[:, lag]), "per_seed": curves[:, lag].tolist()} for lag in config.lags}
    return {**cell, "autocorrelation": curves.mean(0)[: config.max_lag + 1].tolist()}


def measure(config: ShatteredConfig, seed: int = 0) -> dict:
    """The depth sweep (``depth``: per family, one `measure_cell` per depth, He init), the
    initialisation sweep at ``config.init_depth`` (``init``: per family without BN, one cell per
    `INITS` label), the decay fits of each family's autocorrelation over depth (``fits``: per family
    and lag, `tasks.analyze.decay.fit_decay`), and one derivative curve per family at
    ``config.init_depth`` and of the one-layer net (``examples``, for the plot)."""
    depth = {family: {str(d): measure_cell(family, d, HE, config, seed) for d in config.depths} for family in FAMILIES}
    at_init_depth = str(config.init_depth)
    init = {
        family: {
            i.label: depth[family][at_init_depth]  # the depth sweep's cell: same net, same seeds
            if i == HE
            else measure_cell(family, config.init_depth, i, config, seed)
            for i in INITS
        }
        for family in PAIRS["without BN"]
    }
    fits = {
        family: {
            f"lag{lag}": fit_decay(
                list(config.depths),
                np.transpose([depth[family][str(d)][f"lag{lag}"]["per_seed"] for d in config.depths]),
                config.resamples,
                seed,
            )
            for lag in config.lags
        }
        for family in FAMILIES
    }
    examples = {"plain, 1 layer": seeded_gradients("plain", 1, HE, config, seed, 0).tolist()}
    for family in FAMILIES:
        examples[family] = seeded_gradients(family, config.init_depth, HE, config, seed, 0).tolist()
    return {"depths": list(config.depths), "depth": depth, "init": init, "fits": fits, "examples": examples}


def _mean_and_errors(cells: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The cells' means and their 95% intervals as matplotlib's error bars (distances below and above)."""
    mean = np.asarray([c["mean"] for c in cells])
    return mean, np.abs(np.asarray([c["interval"] for c in cells]).T - mean)


def _depth_panel(ax: plt.Axes, numbers: dict, lag: int) -> None:
    """Mean autocorrelation at ``lag`` against depth per family (95% intervals as bars), each family's
    better-fitting law (dashed), and the papers' rates 2^-L and 1/sqrt(L) (grey)."""
    depths = np.asarray(numbers["depths"], dtype=np.float64)
    smooth = np.linspace(1, depths.max(), 200)
    for family, colour in COLOURS.items():
        cells = [numbers["depth"][family][str(d)][f"lag{lag}"] for d in numbers["depths"]]
        mean, errors = _mean_and_errors(cells)
        ax.errorbar(depths, mean, yerr=errors, fmt="o", ms=3, capsize=2, color=colour, label=family)
        fit = numbers["fits"][family][f"lag{lag}"]
        law = fit["better"]
        ax.plot(smooth, LAWS[law](smooth, fit[law]["a"], fit[law]["rate"]), "--", lw=0.8, color=colour)
    ax.plot(smooth, 2.0**-smooth, ":", color="gray", label="2^-L (plain, paper)")
    ax.plot(smooth, smooth**-0.5, "-.", color="gray", label="1/sqrt(L) (resnet+BN, paper)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth L (layers or blocks)")
    ax.set_ylabel(f"autocorrelation at lag {lag}")
    ax.set_title(f"lag {lag} by depth (dashed: better fit)", fontsize=9)


def _init_panel(ax: plt.Axes, numbers: dict, lag: int, depth: int) -> None:
    """Mean autocorrelation at ``lag`` per initialisation of `INITS`, plain and resnet without BN."""
    labels = [i.label for i in INITS]
    for offset, family in enumerate(PAIRS["without BN"]):
        cells = [numbers["init"][family][label][f"lag{lag}"] for label in labels]
        mean, errors = _mean_and_errors(cells)
        positions = np.arange(len(labels)) + 0.4 * offset - 0.2
        ax.bar(positions, mean, width=0.4, yerr=errors, capsize=2, color=COLOURS[family], label=family)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_ylabel(f"autocorrelation at lag {lag}")
    ax.set_title(f"initialisation, {depth} layers, no BN: lag {lag}", fontsize=9)


def plot(numbers: dict, config: ShatteredConfig) -> plt.Figure:
    """Top: lags 1 and 8 by depth with the fits and the papers' rates; example derivatives (UDL fig.
    11.3). Bottom: the initialisation sweep at lags 1 and 8; the autocorrelation by lag at
    ``config.init_depth``."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for column, lag in enumerate(config.lags[:2]):
        _depth_panel(axes[0, column], numbers, lag)
        _init_panel(axes[1, column], numbers, lag, config.init_depth)
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=7)
    x = np.linspace(-2, 2, config.points)
    for offset, (name, gradient) in enumerate(numbers["examples"].items()):
        g = np.asarray(gradient)
        colour = COLOURS.get(name, "black")
        axes[0, 2].plot(x, (g - g.mean()) / (g.std() + 1e-30) + 4 * offset, lw=0.7, color=colour, label=name)
    for family in FAMILIES:
        cell = numbers["depth"][family][str(config.init_depth)]
        axes[1, 2].plot(cell["autocorrelation"], "o-", ms=2, color=COLOURS[family], label=family)
    axes[0, 2].set_title(f"d out / d x (standardised, offset), depth {config.init_depth}", fontsize=9)
    axes[0, 2].set_xlabel("input x")
    axes[0, 2].set_yticks([])
    axes[0, 2].legend(fontsize=6)
    axes[1, 2].axhline(0, color="gray", lw=0.5)
    axes[1, 2].set_xlabel("lag (input steps)")
    axes[1, 2].set_title(f"autocorrelation by lag, depth {config.init_depth}", fontsize=9)
    fig.suptitle(
        f"Shattered gradients: width {config.width}, {config.points} points, {config.seeds} seeds, "
        "95% intervals (Balduzzi et al. 2017; UDL fig. 11.3)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def judge_pair(numbers: dict, plain: str, resnet: str) -> dict[str, bool]:
    """Balduzzi et al. 2017 (sec. 3-4) on one (plain, residual) pair's lag-1 fits (``numbers["fits"]``
    of `measure`): ``plain_exponential`` when the exponential fits the plain net's decay better than
    the power law, ``resnet_slower`` when the residual net's fitted half-depth interval lies wholly
    above the plain net's, and ``holds`` when both do."""
    plain_fit, resnet_fit = numbers["fits"][plain]["lag1"], numbers["fits"][resnet]["lag1"]
    exponential = plain_fit["better"] == "exponential"
    slower = resnet_fit["half_depth_interval"][0] > plain_fit["half_depth_interval"][1]
    return {"plain_exponential": exponential, "resnet_slower": slower, "holds": exponential and slower}


WHITE_NOISE = 0.1
"""A lag-1 autocorrelation whose interval lies within +-0.1 counts as white noise."""


def white_noise_depth(numbers: dict, family: str) -> int | None:
    """The first depth at which ``family``'s lag-1 interval lies within +-`WHITE_NOISE` (its
    derivative is white noise as far as the seeds tell), or None."""
    for depth in numbers["depths"]:
        low, high = numbers["depth"][family][str(depth)]["lag1"]["interval"]
        if low >= -WHITE_NOISE and high <= WHITE_NOISE:
            return depth
    return None


def _describe_pair(numbers: dict, setup: str) -> str:
    """One set-up's fits and outcome, in words."""
    plain, resnet = PAIRS[setup]
    judged = judge_pair(numbers, plain, resnet)
    parts = []
    for family in (plain, resnet):
        fit = numbers["fits"][family]["lag1"]
        low, high = fit["half_depth_interval"]
        noise = white_noise_depth(numbers, family)
        parts.append(
            f"{family} half-depth {fit['half_depth']:.1f} [{low:.1f}, {high:.1f}], fits "
            f"{fit['better']} (rss exp {fit['exponential']['rss']:.3f}, power {fit['power']['rss']:.3f}; "
            f"power c={fit['power']['rate']:.2f}), "
            + (f"white noise from L={noise}" if noise is not None else "never white noise")
        )
    outcome = "holds" if judged["holds"] else "does not hold"
    return f"{setup} ({outcome}): " + "; ".join(parts)


def verdict(numbers: dict) -> Verdict:
    """Balduzzi et al. 2017 (sec. 3-4) on the lag-1 autocorrelation over depth (``numbers`` of
    `measure`): the claim holds when, in the paper's set-up with BatchNorm, the plain net's decay is
    better fit by an exponential than by a power law and the resnet's fitted half-depth is measurably
    longer (`judge_pair`). The set-up without BN is judged alike and reported, as is the depth from
    which each net's derivative is white noise."""
    return Verdict(
        claim="the lag-1 autocorrelation of d out/d in decays exponentially with depth in plain nets and "
        "measurably slower (about 1/sqrt(L)) in resnets (Balduzzi et al. 2017, sec. 3-4)",
        measured=f"depths {numbers['depths'][0]}-{numbers['depths'][-1]}: "
        + " | ".join(_describe_pair(numbers, setup) for setup in PAIRS),
        holds=judge_pair(numbers, *PAIRS["with BN"])["holds"],
    )


def run(analyze: AnalyzeRun, config: ShatteredConfig) -> Verdict:
    """Measure the depth and initialisation sweeps and fit the decays (`measure`), plot and judge them
    (`verdict`)."""
    numbers = measure(config, analyze.seed)
    outcome = verdict(numbers)
    finish_study(analyze, "shattered", config, numbers, plot(numbers, config), outcome)
    return outcome
