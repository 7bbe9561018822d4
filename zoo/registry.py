"""The model registry: the papers' configurations by name, and `create_model` to build any of them
for any task.

Every name maps to a `ModelSpec`: a family, its class, the paper's arguments and the native input
size. `create_model(name, task=...)` puts the head a task needs on the family's backbone, so the 4
families x 3 tasks are 12 ways of composing the same parts (DESIGN.md sections 3 and 4).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from zoo.blocks import BasicBlock, Bottleneck
from zoo.heads import Classifier, HeatmapModel
from zoo.models import DenseNet, ResNet, StackedHourglass, UNet, UNetEncoder
from zoo.weights import METADATA_KEYS, load_weights, read_metadata

TASKS = ("classification", "segmentation", "pose")
DEFAULT_NUM_JOINTS = 16  # MPII, the data set of Newell et al. 2016
DEFAULT_SEG_CLASSES = 21  # PASCAL VOC


@dataclass(frozen=True)
class ModelSpec:
    """One registered configuration.

    Attributes:
        family: "resnet", "densenet", "unet" or "hourglass".
        cls: the backbone class the configuration builds (for "unet", its encoder's class).
        kwargs: the paper's arguments to ``cls``.
        input_size: the native (C, H, W), used for the GFLOPs in `zoo models`.
        native_task: the task ``create_model`` builds when none is given.
        unet_kwargs: arguments to the `UNet` around the encoder (U-Net family only).
        paper: where the configuration comes from.
    """

    family: str
    cls: Callable[..., nn.Module]
    kwargs: dict
    input_size: tuple[int, int, int]
    native_task: str
    paper: str
    unet_kwargs: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, spec: ModelSpec) -> None:
    """Add a configuration under ``name`` (names are unique)."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = spec


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered names matching a glob ``pattern`` (and ``family``), in registration order."""
    return [n for n, s in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and family in (None, s.family)]


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of ``name``; an unknown name raises a KeyError suggesting close names."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"Unknown model {name!r}.{hint} `zoo models` or zoo.list_models() lists all {len(_REGISTRY)} names."
        )
    return _REGISTRY[name]


def _accepts(fn: Callable) -> set[str]:
    return {p for p in inspect.signature(fn).parameters if p not in ("self", "kwargs")}


def _take(fn: Callable, options: dict, **fixed) -> nn.Module:
    """Call ``fn`` with the options it accepts, plus ``fixed``."""
    names = _accepts(fn)
    return fn(**{k: v for k, v in options.items() if k in names and k not in fixed}, **fixed)


def create_model(name: str, *, task: str | None = None, weights: str | Path | None = None, **overrides) -> nn.Module:
    """Build the registered model ``name`` for ``task`` ("classification", "segmentation" or
    "pose"; default: the family's own task).

    Overrides are the block and family options (``in_chans``, ``shortcut``, ``order``, ``plain``,
    ``zero_init_residual``, ``residual_scale``, ``norm``, ``memory_efficient``, ``padding``,
    ``num_stacks``...), plus ``num_classes`` (classification, segmentation) or ``num_joints``
    (pose). Segmentation output has the input's size (smaller with valid padding); pose output is
    heatmaps at stride 4, a list with one entry per stack for the hourglass.

    ``weights``: a safetensors file (e.g. from ``zoo export``) or a torch state dict file to load,
    strictly, read without running code from it (`zoo.weights.load_weights`); weights that do not
    fit raise a `zoo.weights.WeightsMismatchError` naming the model and the offending keys.
    """
    spec = get_spec(name)
    task = task or spec.native_task
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not supported; choose one of {', '.join(TASKS)}.")
    _check_overrides(name, spec, task, overrides)
    model = _BUILDERS[spec.family](spec, task, dict(overrides))
    return model if weights is None else load_weights(model, weights, name=f"{name} ({task})")


def load_model(path: str | Path) -> nn.Module:
    """Rebuild the model of a ``zoo export`` safetensors file: its metadata names the model, task
    and options, and `create_model` builds it and loads the weights."""
    metadata = read_metadata(path)
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ValueError(
            f"{path} has no {', '.join(missing)} metadata, so the model cannot be rebuilt from it alone: it was not "
            "written by `zoo export`. Build the model yourself and pass the file: create_model(name, weights=path)."
        )
    name, task, options = (metadata[key] for key in METADATA_KEYS)
    return create_model(name, task=task, weights=path, **json.loads(options))


def _allowed(spec: ModelSpec, task: str) -> set[str]:
    allowed = _accepts(spec.cls) | {"num_joints" if task == "pose" else "num_classes"}
    if spec.family == "unet" or task == "segmentation" and spec.family in ("resnet", "densenet"):
        allowed |= _accepts(UNet) - {"encoder"}
    if task == "pose" and spec.family in ("resnet", "densenet"):
        allowed |= _accepts(HeatmapModel) - {"backbone"}
    if task == "classification":
        allowed |= {"drop_rate"}
    internal = {"num_outputs", "upsample_outputs", "out_reduction", "encoder", "block"}
    if task == "pose":
        internal.add("num_classes")
    return allowed - internal


def _check_overrides(name: str, spec: ModelSpec, task: str, overrides: dict) -> None:
    allowed = _allowed(spec, task)
    for key in overrides:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TypeError(
                f"{name} ({task}) has no option {key!r}.{hint} Its options are: {', '.join(sorted(allowed))}."
            )


def _build_classic(spec: ModelSpec, task: str, opts: dict) -> nn.Module:
    """ResNet and DenseNet: their own classifier; a U-Net decoder or a SimpleBaseline head else."""
    options = {**spec.kwargs, **opts}
    if task == "classification":
        return _take(spec.cls, options)
    backbone = _take(spec.cls, options, num_classes=0)
    if task == "segmentation":
        return _take(UNet, opts, encoder=backbone, num_classes=opts.get("num_classes", DEFAULT_SEG_CLASSES))
    return _take(HeatmapModel, opts, backbone=backbone, num_joints=opts.get("num_joints", DEFAULT_NUM_JOINTS))


def _build_unet(spec: ModelSpec, task: str, opts: dict) -> nn.Module:
    """U-Net: its own decoder for segmentation, stopped at stride 4 for heatmaps; for
    classification a pooled linear head on the encoder's bottom."""
    options = {**spec.kwargs, **spec.unet_kwargs, **opts}
    headless = {"num_classes": 0} if "num_classes" in _accepts(spec.cls) else {}  # a ResNet/DenseNet encoder
    encoder = _take(spec.cls, options, **headless)
    if task == "classification":
        return Classifier(
            encoder, opts.get("num_classes", spec.unet_kwargs.get("num_classes", 1000)), opts.get("drop_rate", 0.0)
        )
    if task == "pose":
        return _take(
            UNet, options, encoder=encoder, num_classes=opts.get("num_joints", DEFAULT_NUM_JOINTS), out_reduction=4
        )
    return _take(UNet, options, encoder=encoder)


def _build_hourglass(spec: ModelSpec, task: str, opts: dict) -> nn.Module:
    """Stacked hourglass: every stack predicts heatmaps (pose) or class maps resized to the input
    (segmentation); for classification a pooled linear head on the last stack's features."""
    options = {**spec.kwargs, **opts}
    if task == "pose":
        return _take(spec.cls, options, num_outputs=opts.get("num_joints", DEFAULT_NUM_JOINTS))
    if task == "segmentation":
        return _take(spec.cls, options, num_outputs=opts.get("num_classes", DEFAULT_SEG_CLASSES), upsample_outputs=True)
    return Classifier(
        _take(spec.cls, options, num_outputs=None), opts.get("num_classes", 1000), opts.get("drop_rate", 0.0)
    )


_BUILDERS = {"resnet": _build_classic, "densenet": _build_classic, "unet": _build_unet, "hourglass": _build_hourglass}


def _register_all() -> None:
    he15, he16 = "He et al. 2015", "He et al. 2016 (Identity Mappings)"
    imagenet = (3, 224, 224)
    cifar = (3, 32, 32)
    for depth, block, layers in [
        (18, BasicBlock, [2, 2, 2, 2]),
        (34, BasicBlock, [3, 4, 6, 3]),
        (50, Bottleneck, [3, 4, 6, 3]),
        (101, Bottleneck, [3, 4, 23, 3]),
        (152, Bottleneck, [3, 8, 36, 3]),
        (200, Bottleneck, [3, 24, 36, 3]),
    ]:
        register(
            f"resnet{depth}",
            ModelSpec(
                "resnet",
                ResNet,
                dict(block=block, layers=layers),
                imagenet,
                "classification",
                he15 if depth < 200 else he16,
            ),
        )
    for depth in (20, 32, 44, 56, 110, 1202):
        n = (depth - 2) // 6
        cfg = dict(block=BasicBlock, layers=[n] * 3, stem="cifar", shortcut="A", num_classes=10)
        register(f"resnet{depth}", ModelSpec("resnet", ResNet, cfg, cifar, "classification", f"{he15}, sec. 4.2"))
    for depth in (20, 32, 44, 56, 110):
        n = (depth - 2) // 6
        cfg = dict(block=BasicBlock, layers=[n] * 3, stem="cifar", plain=True, num_classes=10)
        register(f"plain{depth}", ModelSpec("resnet", ResNet, cfg, cifar, "classification", f"{he15}, fig. 6"))
    for depth, block in [(110, BasicBlock), (164, Bottleneck), (1001, Bottleneck)]:
        n = (depth - 2) // (6 if block is BasicBlock else 9)
        cfg = dict(block=block, layers=[n] * 3, stem="cifar", order="pre", num_classes=10)
        register(f"preact_resnet{depth}", ModelSpec("resnet", ResNet, cfg, cifar, "classification", he16))
    huang = "Huang et al. 2017"
    for name, k, blocks, init in [
        ("densenet121", 32, (6, 12, 24, 16), 64),
        ("densenet169", 32, (6, 12, 32, 32), 64),
        ("densenet201", 32, (6, 12, 48, 32), 64),
        ("densenet264", 32, (6, 12, 64, 48), 64),
        ("densenet161", 48, (6, 12, 36, 24), 96),
    ]:
        cfg = dict(growth_rate=k, block_config=blocks, num_init_features=init)
        register(name, ModelSpec("densenet", DenseNet, cfg, imagenet, "classification", f"{huang}, table 1"))
    for name, k, depth, bc in [
        ("densenet40_k12", 12, 40, False),
        ("densenet_bc100_k12", 12, 100, True),
        ("densenet_bc250_k24", 24, 250, True),
        ("densenet_bc190_k40", 40, 190, True),
    ]:
        n = (depth - 4) // (6 if bc else 3)
        cfg = dict(
            growth_rate=k,
            block_config=(n,) * 3,
            num_init_features=2 * k if bc else 16,
            bn_size=4 if bc else 0,
            compression=0.5 if bc else 1.0,
            stem="cifar",
            num_classes=10,
        )
        register(name, ModelSpec("densenet", DenseNet, cfg, cifar, "classification", f"{huang}, table 2"))
    ronneberger = "Ronneberger et al. 2015"
    register(
        "unet",
        ModelSpec(
            "unet",
            UNetEncoder,
            dict(in_chans=1, padding="valid", norm="none"),
            (1, 572, 572),
            "segmentation",
            f"{ronneberger}, fig. 1",
            dict(num_classes=2),
        ),
    )
    register(
        "unet_same",
        ModelSpec(
            "unet",
            UNetEncoder,
            dict(in_chans=3, padding="same", norm="batch"),
            (3, 256, 256),
            "segmentation",
            f"{ronneberger}, padded, with BN",
            dict(num_classes=2),
        ),
    )
    for name in list_models(family="resnet") + list_models(family="densenet"):
        base = _REGISTRY[name]
        register(
            f"unet_{name}",
            ModelSpec(
                "unet",
                base.cls,
                dict(base.kwargs),
                base.input_size,
                "segmentation",
                f"{ronneberger} decoder on {name}",
                dict(num_classes=DEFAULT_SEG_CLASSES),
            ),
        )
    for stacks in (1, 2, 4, 8):
        register(
            f"hourglass{stacks}",
            ModelSpec(
                "hourglass", StackedHourglass, dict(num_stacks=stacks), (3, 256, 256), "pose", "Newell et al. 2016"
            ),
        )


_register_all()
