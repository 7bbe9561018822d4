"""The degradation problem (He et al. 2015, sec. 4.2, fig. 1 and fig. 6): with one recipe and
budget, a 56-layer plain net reaches a higher training error than a 20-layer one, while a 56-layer
ResNet reaches no higher a training error than a 20-layer ResNet.

The four nets are the shared ones of `tasks.analyze.training`; this study is the first to ask for
them, so it trains them (and saves them for `responses`, `lesion` and `paths`), each from as many
seeds as the recipe asks, and compares the mean training errors with a stated margin (`MARGIN`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import AnalyzeRun, Verdict, finish_study, mean_interval
from .training import FULL as FULL_NETS
from .training import MEDIUM as MEDIUM_NETS
from .training import NETS, TrainConfig, TrainedNet, trained_nets
from .training import QUICK as QUICK_NETS

# The study measures the nets as they are trained, so its configurations are their recipes.
QUICK = QUICK_NETS
MEDIUM = MEDIUM_NETS
FULL = FULL_NETS

MARGIN = 0.01
"""Training errors (fractions) closer than this are a tie: one point, 200 of the medium budget's
20,000 training images."""


def _smooth(values: list[float], window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot(nets: dict[str, TrainedNet], train_error: dict[str, float], seeds: int) -> plt.Figure:
    """He et al. fig. 6 in small: the first seed's training loss curves (plain left, ResNet right) and
    the final training errors (``train_error``, the mean over ``seeds``)."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, family in zip(axes[:2], ("plain", "resnet"), strict=True):
        for name, trained in nets.items():
            if name.startswith(family):
                curve = trained.record["loss_curve"]
                ax.plot(_smooth(curve, max(1, len(curve) // 20)), label=name)
        ax.set_title(f"{family}: training loss", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    names = list(train_error)
    errors = [100 * train_error[n] for n in names]
    axes[2].bar(names, errors, color=["tab:red", "tab:red", "tab:blue", "tab:blue"][: len(names)])
    for i, e in enumerate(errors):
        axes[2].text(i, e, f"{e:.1f}", ha="center", va="bottom", fontsize=8)
    axes[2].set_title(f"final training error (%){f', mean of {seeds} seeds' if seeds > 1 else ''}", fontsize=9)
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: TrainConfig) -> Verdict:
    """He et al. fig. 1 and 6 on the measured ``numbers["train_error"]`` (per net, the fraction of the
    training split misclassified after ``config.steps`` steps, averaged over ``config.seeds`` seeds):
    the claim holds when plain56's error is above plain20's by more than `MARGIN` (depth degrades the
    plain net) and resnet56's is not above resnet20's by more than `MARGIN` (it does not degrade the
    ResNet), where resnet20 has an error above `MARGIN` to lose: two ResNets at 0% tie on a training
    set they memorised, which decides nothing."""
    err = numbers["train_error"]
    plain_gap, resnet_gap = err["plain56"] - err["plain20"], err["resnet56"] - err["resnet20"]
    decided = err["resnet20"] > MARGIN
    holds = plain_gap > MARGIN and resnet_gap <= MARGIN and decided
    seeds = f"mean of {config.seeds} seeds" if config.seeds > 1 else "one seed"
    return Verdict(
        claim="plain-56 trains to a higher training error than plain-20; resnet-56 to no higher than resnet-20 "
        "(He et al. 2015, fig. 1 and 6)",
        measured=f"training error ({seeds}) "
        + ", ".join(f"{n} {100 * e:.1f}%" for n, e in err.items())
        + f" after {config.steps} steps: 56 - 20 = {100 * plain_gap:+.1f} pts plain, {100 * resnet_gap:+.1f} pts "
        f"resnet (a tie within {100 * MARGIN:.0f} pt)"
        + ("" if decided else "; undecided: resnet20 trained to within the margin of 0%"),
        holds=holds,
    )


def measure(seeds: list[dict[str, TrainedNet]]) -> dict:
    """The four nets' training errors, validation accuracies and final training losses (the mean of
    the last 20 steps'), each averaged over the seeds and listed per seed; with two seeds or more, the
    depth gaps (56 - 20, paired by seed) with their 95% intervals."""

    def per_seed(value) -> dict[str, list[float]]:
        return {name: [value(nets[name]) for nets in seeds] for name in NETS}

    runs = {
        "train_error": per_seed(lambda n: n.record["train_error"]),
        "val_accuracy": per_seed(lambda n: n.record["val_accuracy"]),
        "final_loss": per_seed(lambda n: float(np.mean(n.record["loss_curve"][-20:]))),
    }
    numbers = {key: {name: float(np.mean(v)) for name, v in values.items()} for key, values in runs.items()}
    numbers.update({f"{key}_per_seed": values for key, values in runs.items()})
    if len(seeds) > 1:
        errors = runs["train_error"]
        numbers["gap_interval"] = {
            family: mean_interval(np.subtract(errors[f"{family}56"], errors[f"{family}20"]))
            for family in ("plain", "resnet")
        }
    numbers["train_seconds"] = {name: [nets[name].record.get("seconds") for nets in seeds] for name in NETS}
    numbers["data"] = seeds[0]["resnet20"].record["data"]
    return numbers


def run(analyze: AnalyzeRun, config: TrainConfig) -> Verdict:
    """Train (or load) the four nets from each seed, record their training errors, plot the first
    seed's and judge the means (`verdict`)."""
    seeds = [trained_nets(analyze, config, replica=k) for k in range(config.seeds)]
    numbers = measure(seeds)
    outcome = verdict(numbers, config)
    finish_study(analyze, "degradation", config, numbers, plot(seeds[0], numbers["train_error"], config.seeds), outcome)
    return outcome
