"""The degradation problem (He et al. 2015, sec. 4.2, fig. 1 and fig. 6): with one recipe and
budget, a 56-layer plain net reaches a higher training error than a 20-layer one, while a 56-layer
ResNet reaches no higher a training error than a 20-layer ResNet.

The four nets are the shared ones of `tasks.analyze.training`; this study is the first to ask for
them, so it trains them (and saves them for `responses`, `lesion` and `paths`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .common import AnalyzeRun, Verdict, finish_study
from .training import FULL as FULL_NETS
from .training import NETS, TrainConfig, TrainedNet, trained_nets
from .training import QUICK as QUICK_NETS

# The study measures the nets as they are trained, so its configurations are their recipes.
QUICK = QUICK_NETS
FULL = FULL_NETS


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


def verdict(numbers: dict, config: TrainConfig) -> Verdict:
    """He et al. fig. 1 and 6 on the measured ``numbers["train_error"]`` (per net, fraction of the
    training split misclassified after ``config.steps`` steps): the claim holds when the training
    error of plain56 is above plain20's (depth degrades the plain net) and resnet56's is at most
    resnet20's (it does not degrade the ResNet)."""
    err = numbers["train_error"]
    holds = err["plain56"] > err["plain20"] and err["resnet56"] <= err["resnet20"]
    return Verdict(
        claim="plain-56 trains to a higher training error than plain-20; resnet-56 to no higher than resnet-20 "
        "(He et al. 2015, fig. 1 and 6)",
        measured="training error "
        + ", ".join(f"{n} {100 * e:.1f}%" for n, e in err.items())
        + f" after {config.steps} steps",
        holds=holds,
    )


def run(analyze: AnalyzeRun, config: TrainConfig) -> Verdict:
    """Train (or load) the four nets, record their training errors, plot and judge them (`verdict`)."""
    nets = trained_nets(analyze, config)
    numbers = {
        "train_error": {name: nets[name].record["train_error"] for name in NETS},
        "val_accuracy": {name: nets[name].record["val_accuracy"] for name in NETS},
        "final_loss": {name: float(np.mean(nets[name].record["loss_curve"][-20:])) for name in NETS},
        "data": nets["resnet20"].record["data"],
    }
    outcome = verdict(numbers, config)
    finish_study(analyze, "degradation", config, numbers, plot(nets), outcome)
    return outcome
