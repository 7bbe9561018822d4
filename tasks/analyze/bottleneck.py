"""Cost of the block designs, from the zoo's own counters (`zoo.measure.count_params`,
`zoo.measure.count_gflops`).

1. Bottleneck vs basic block (He et al. 2015, sec. 4.1, fig. 5): at the same 3x3 width, a
   bottleneck block (1x1 reduce, 3x3, 1x1 expand by 4) costs about what a basic block (two 3x3)
   costs, while its output is 4 times wider; that is what made the 50/101/152-layer nets affordable.
2. DenseNet vs ResNet (Huang et al. 2017, sec. 4.3, fig. 3): DenseNets reach a ResNet's accuracy
   with far fewer parameters. Parameters and GFLOPs are counted here; the accuracies are the
   published ones (torchvision's ImageNet weights, Huang et al. table 2 for CIFAR-10+), quoted and
   labelled as such, since training ImageNet or full CIFAR models is beyond a CPU budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

import zoo
from zoo.blocks import BasicBlock, Bottleneck
from zoo.measure import count_gflops, count_params

from .common import AnalyzeRun, Verdict, finish_study

# Published accuracies (%), quoted for the parameter-efficiency comparison; not measured here.
IMAGENET_TOP1 = {  # torchvision's IMAGENET1K_V1 weights
    "resnet18": 69.758,
    "resnet34": 73.314,
    "resnet50": 76.130,
    "resnet101": 77.374,
    "resnet152": 78.312,
    "densenet121": 74.434,
    "densenet169": 75.600,
    "densenet201": 76.896,
    "densenet161": 77.138,
}
CIFAR10_PLUS_ERROR = {  # Huang et al. 2017, table 2 (C10+); He et al. 2015, table 6 for resnet56
    "resnet56": 6.97,
    "resnet110": 6.41,
    "densenet40_k12": 5.24,
    "densenet_bc100_k12": 4.51,
}


@dataclass(frozen=True)
class BottleneckConfig:
    """3x3 widths of the blocks compared and the feature-map side they run at; the ImageNet and
    CIFAR models counted (with quoted accuracies), and in each set the (DenseNet, ResNet) pair of
    about equal accuracy whose parameters are compared (Huang et al. fig. 3: DenseNet-201 vs
    ResNet-101; table 2: DenseNet-BC-100 vs ResNet-110)."""

    widths: tuple[int, ...] = (64, 128, 256, 512)
    size: int = 56
    imagenet: tuple[str, ...] = tuple(IMAGENET_TOP1)
    cifar: tuple[str, ...] = tuple(CIFAR10_PLUS_ERROR)
    imagenet_pair: tuple[str, str] = ("densenet201", "resnet101")
    cifar_pair: tuple[str, str] = ("densenet_bc100_k12", "resnet110")


QUICK = BottleneckConfig()
MEDIUM = QUICK  # the medium budget trains larger nets; this study trains none
FULL = BottleneckConfig()


def _cost(module: torch.nn.Module, input_size: tuple[int, int, int]) -> dict:
    return {"params": count_params(module), "gflops": count_gflops(module, input_size)}


def block_costs(config: BottleneckConfig) -> list[dict]:
    """Per 3x3 width w: a basic block w -> w, a bottleneck 4w -> 4w (same 3x3 width, the paper's
    pairing of fig. 5) and a bottleneck w -> w (same output width)."""
    rows = []
    for w in config.widths:
        with torch.device("meta"):
            basic = BasicBlock(w, w)
            wide = Bottleneck(4 * w, w)
            narrow = Bottleneck(w, w // 4)
        rows.append(
            {
                "width": w,
                "basic": _cost(basic, (w, config.size, config.size)),
                "bottleneck_4x_out": _cost(wide, (4 * w, config.size, config.size)),
                "bottleneck_same_out": _cost(narrow, (w, config.size, config.size)),
            }
        )
    return rows


def model_costs(names: list[str]) -> dict[str, dict]:
    """Params and GFLOPs of registered models at their native input size."""
    costs = {}
    for name in names:
        with torch.device("meta"):
            model = zoo.create_model(name)
        costs[name] = _cost(model, zoo.get_spec(name).input_size)
    return costs


def plot(blocks: list[dict], imagenet: dict, cifar: dict) -> plt.Figure:
    """Left: params per block design by width; middle and right: accuracy vs params (quoted
    accuracies, counted params) for ImageNet and CIFAR-10."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    widths = [row["width"] for row in blocks]
    for key, label in [
        ("basic", "basic w->w"),
        ("bottleneck_4x_out", "bottleneck 4w->4w"),
        ("bottleneck_same_out", "bottleneck w->w"),
    ]:
        axes[0].plot(widths, [row[key]["params"] / 1e6 for row in blocks], "o-", label=label)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("3x3 width w")
    axes[0].set_ylabel("params (M)")
    axes[0].set_title("one block", fontsize=9)
    axes[0].legend(fontsize=7)
    for ax, costs, quoted, title, ylabel in [
        (axes[1], imagenet, IMAGENET_TOP1, "ImageNet", "top-1 (%, torchvision)"),
        (axes[2], cifar, {k: 100 - v for k, v in CIFAR10_PLUS_ERROR.items()}, "CIFAR-10+", "accuracy (%, papers)"),
    ]:
        for family, colour in (("resnet", "tab:blue"), ("densenet", "tab:green")):
            names = [n for n in costs if n.startswith(family)]
            ax.plot(
                [costs[n]["params"] / 1e6 for n in names], [quoted[n] for n in names], "o-", color=colour, label=family
            )
            for n in names:
                ax.annotate(n, (costs[n]["params"] / 1e6, quoted[n]), fontsize=6)
        ax.set_xlabel("params (M, counted)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def verdict(numbers: dict, config: BottleneckConfig) -> Verdict:
    """He et al. 2015 fig. 5 and Huang et al. 2017 fig. 3 / table 2 on the counted costs
    (``numbers`` of `run`): the claim holds when the 4x-wider bottleneck costs within 15% of the basic
    block in both params and FLOPs at every width, and the DenseNet of each pair of
    ``config.imagenet_pair`` and ``config.cifar_pair`` has under 60% of its ResNet's parameters."""
    ratios = numbers["bottleneck_over_basic"]
    dense_ratio, cifar_ratio = numbers["imagenet_dense_over_res_params"], numbers["cifar_dense_over_res_params"]
    cheap = all(abs(r["params"] - 1) < 0.15 and abs(r["gflops"] - 1) < 0.15 for r in ratios)
    (dense_i, res_i), (dense_c, res_c) = config.imagenet_pair, config.cifar_pair
    holds = cheap and dense_ratio < 0.6 and cifar_ratio < 0.6  # "far fewer": under 60% of the ResNet's
    width, r = numbers["blocks"][0]["width"], ratios[0]
    return Verdict(
        claim="a bottleneck block costs about a basic block at the same 3x3 width with a 4x wider output "
        "(He et al. 2015); DenseNets match ResNet accuracy with far fewer parameters (Huang et al. 2017)",
        measured=f"bottleneck/basic at w={width}: params x{r['params']:.2f}, FLOPs x{r['gflops']:.2f}; "
        f"{dense_i}/{res_i} params x{dense_ratio:.2f} ({IMAGENET_TOP1[dense_i]:.1f} vs "
        f"{IMAGENET_TOP1[res_i]:.1f}% top-1, quoted); {dense_c}/{res_c} params x{cifar_ratio:.2f} "
        f"({CIFAR10_PLUS_ERROR[dense_c]} vs {CIFAR10_PLUS_ERROR[res_c]}% C10+ error, quoted)",
        holds=holds,
    )


def run(analyze: AnalyzeRun, config: BottleneckConfig) -> Verdict:
    """Count the blocks' and models' costs, their ratios (bottleneck over basic block per width,
    DenseNet over ResNet parameters per pair), plot and judge them (`verdict`)."""
    blocks = block_costs(config)
    imagenet = model_costs(list(config.imagenet))
    cifar = model_costs(list(config.cifar))
    (dense_i, res_i), (dense_c, res_c) = config.imagenet_pair, config.cifar_pair
    numbers = {
        "blocks": blocks,
        "bottleneck_over_basic": [
            {k: row["bottleneck_4x_out"][k] / row["basic"][k] for k in ("params", "gflops")} for row in blocks
        ],
        "imagenet": imagenet,
        "cifar": cifar,
        "imagenet_dense_over_res_params": imagenet[dense_i]["params"] / imagenet[res_i]["params"],
        "cifar_dense_over_res_params": cifar[dense_c]["params"] / cifar[res_c]["params"],
        "quoted_imagenet_top1": IMAGENET_TOP1,
        "quoted_cifar10_plus_error": CIFAR10_PLUS_ERROR,
    }
    outcome = verdict(numbers, config)
    finish_study(analyze, "bottleneck", config, numbers, plot(blocks, imagenet, cifar), outcome)
    return outcome
