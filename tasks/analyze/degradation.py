"""The degradation problem (He et al. 2015, sec. 4.2, fig. 1 and fig. 6): with one recipe and
budget, a 56-layer plain net reaches a higher training error than a 20-layer one, while a 56-layer
ResNet reaches no higher a training error than a 20-layer ResNet.

The four nets are the shared ones of `tasks.analyze.training`; this study is the first to ask for
them, so it trains them (and saves them for `responses`, `lesion` and `paths`), each from as many
seeds as the recipe asks, and compares their training losses at matched steps with a stated margin
(`LOSS_MARGIN`).
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

LOSS_MARGIN = 0.1
"""Final training losses within this fraction of each other are a tie."""


def _smooth(values: list[float], window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot(nets: dict[str, TrainedNet], train_error: dict[str, float], seeds: int) -> plt.Figure:
    """He et al. fig. 6 in small: the first seed's training loss curves (plain left, ResNet right, log
    scale) and the final training errors (``train_error``, the mean over ``seeds``)."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, family in zip(axes[:2], ("plain", "resnet"), strict=True):
        for name, trained in nets.items():
            if name.startswith(family):
                curve = trained.record["loss_curve"]
                ax.plot(_smooth(curve, max(1, len(curve) // 20)), label=name)
        ax.set_title(f"{family}: training loss", fontsize=9)
        ax.set_yscale("log")  # the verdict compares the final losses, orders of magnitude below the first
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
    """He et al. fig. 1 and 6, judged by the training loss at matched steps: ``numbers["final_loss"]``
    (per net, the mean training loss over the last 5% of ``config.steps``, averaged over
    ``config.seeds`` seeds). The claim holds when plain56's loss is above plain20's by more than
    `LOSS_MARGIN` (depth degrades the plain net) and resnet56's is not (it does not degrade the
    ResNet). The loss decides where the training error cannot: nets that fit their training set
    reach 0% error together, a tie that says nothing. The errors are reported beside it."""
    loss, err = numbers["final_loss"], numbers["train_error"]
    ratio = {family: loss[f"{family}56"] / loss[f"{family}20"] for family in ("plain", "resnet")}
    holds = ratio["plain"] > 1 + LOSS_MARGIN and ratio["resnet"] <= 1 + LOSS_MARGIN
    seeds = f"mean of {config.seeds} seeds" if config.seeds > 1 else "one seed"
    return Verdict(
        claim="plain-56 trains to a higher training loss than plain-20; resnet-56 to no higher than resnet-20 "
        "(He et al. 2015, fig. 1 and 6)",
        measured=f"final training loss ({seeds}, last 5% of {config.steps} steps) "
        + ", ".join(f"{n} {v:.3g}" for n, v in loss.items())
        + f": 56/20 x{ratio['plain']:.2f} plain, x{ratio['resnet']:.2f} resnet (a tie within {LOSS_MARGIN:.0%}); "
        "training error " + ", ".join(f"{n} {100 * e:.1f}%" for n, e in err.items()),
        holds=holds,
    )


def final_loss(curve: list[float]) -> float:
    """The mean training loss over the last 5% of the steps (one step at least)."""
    return float(np.mean(curve[-max(1, len(curve) // 20) :]))


def measure(seeds: list[dict[str, TrainedNet]]) -> dict:
    """The four nets' training errors, validation accuracies and `final_loss`, each averaged over the
    seeds and listed per seed; with two seeds or more, the depth ratios of the loss (56 / 20, paired by
    seed) with their 95% intervals."""

    def per_seed(value) -> dict[str, list[float]]:
        return {name: [value(nets[name]) for nets in seeds] for name in NETS}

    runs = {
        "final_loss": per_seed(lambda n: final_loss(n.record["loss_curve"])),
        "train_error": per_seed(lambda n: n.record["train_error"]),
        "val_accuracy": per_seed(lambda n: n.record["val_accuracy"]),
    }
    numbers = {key: {name: float(np.mean(v)) for name, v in values.items()} for key, values in runs.items()}
    numbers.update({f"{key}_per_seed": values for key, values in runs.items()})
    if len(seeds) > 1:
        losses = runs["final_loss"]
        numbers["loss_ratio_interval"] = {
            family: mean_interval(np.divide(losses[f"{family}56"], losses[f"{family}20"]))
            for family in ("plain", "resnet")
        }
    numbers["train_seconds"] = {name: [nets[name].record.get("seconds") for nets in seeds] for name in NETS}
    numbers["data"] = seeds[0]["resnet20"].record["data"]
    return numbers


def run(analyze: AnalyzeRun, config: TrainConfig) -> Verdict:
    """Train (or load) the four nets from each seed, measure them, plot the first seed's curves and
    judge the means (`verdict`)."""
    seeds = [trained_nets(analyze, config, replica=k) for k in range(config.seeds)]
    numbers = measure(seeds)
    outcome = verdict(numbers, config)
    finish_study(analyze, "degradation", config, numbers, plot(seeds[0], numbers["train_error"], config.seeds), outcome)
    return outcome
