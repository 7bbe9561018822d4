"""The table of registered models: each family's module registers its papers' configurations here, by
name, next to its code (timm's ``_registry`` pattern); `zoo.factory.create_model` builds them.

A `Family` says which head does each task on its backbones (a key of `HEADS`); a `ModelSpec` is one
configuration: family, backbone class, the paper's arguments, native input size and task. This module
knows no family: it sits under `zoo.models`, which imports it to register (docs/architecture.md).

Derived names: `derive` adds a rule that makes more names from registered ones (the U-Net family makes
``unet_<name>`` for every backbone that other families put a U-Net decoder on). A rule applies at once
to every model registered before it, and to each one registered after it as it is registered, so the
result does not depend on the order the families are imported in; names are listed in the order they
were made.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

TASKS = ("classification", "segmentation", "pose")
HEADS = {
    "own": "the backbone's own classifier (ResNet, DenseNet)",
    "pooled": "global average pool and a linear classifier on the deepest feature (zoo.heads.Classifier)",
    "unet": "the U-Net decoder on the backbone's features and a 1x1 conv (zoo.heads.UNet)",
    "heatmap": "SimpleBaseline's deconvolutions to stride 4 and a 1x1 conv per joint (zoo.heads.HeatmapModel)",
    "self": "the backbone predicts the task's maps itself, given num_outputs (the stacked hourglass)",
}
"""How a task's output can be made from a backbone; `zoo.factory` builds each."""
DEFAULT_NUM_JOINTS = 16  # MPII, the data set of Newell et al. 2016
DEFAULT_SEG_CLASSES = 21  # PASCAL VOC
DEFAULT_CLASSES = 1000  # ImageNet
OUTPUTS = {"classification": "num_classes", "segmentation": "num_classes", "pose": "num_joints"}
"""The `create_model` argument that sets each task's output size."""


@dataclass(frozen=True)
class Family:
    """How a family does each task.

    Attributes:
        name: the family's name ("resnet", "densenet", "unet", "hourglass").
        heads: task -> the head that makes its output (a key of `HEADS`), for each of `TASKS`.
        task_kwargs: task -> fixed arguments to the head (or, for "self", to the backbone) for that task.
    """

    name: str
    heads: Mapping[str, str]
    task_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.heads) != set(TASKS) or not set(self.heads.values()) <= set(HEADS):
            raise ValueError(
                f"family {self.name!r} must name a head for each of {', '.join(TASKS)} among "
                f"{', '.join(HEADS)}; got {dict(self.heads)}"
            )


@dataclass(frozen=True)
class ModelSpec:
    """One registered configuration.

    Attributes:
        family: the name of its registered `Family`.
        cls: the backbone class the configuration builds (for "unet_<name>", the encoder's class).
        kwargs: the paper's arguments to ``cls``.
        input_size: the native (C, H, W), used for the GFLOPs in `zoo models`.
        native_task: the task ``create_model`` builds when none is given.
        paper: where the configuration comes from.
        head_kwargs: arguments to its heads, e.g. the U-Net paper's 2 classes.
    """

    family: str
    cls: Callable[..., nn.Module]
    kwargs: dict
    input_size: tuple[int, int, int]
    native_task: str
    paper: str
    head_kwargs: dict = field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}
_REGISTRY: dict[str, ModelSpec] = {}
_LISTENERS: list[Callable[[str, ModelSpec], None]] = []


def register_family(family: Family) -> Family:
    """Add a family (names are unique); returns it."""
    if family.name in _FAMILIES:
        raise ValueError(f"family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered `Family` called ``name``."""
    return _FAMILIES[name]


def register(name: str, spec: ModelSpec) -> None:
    """Add a configuration under ``name`` (names are unique; its family must be registered), then the
    names every `derive` rule makes from it."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    if spec.family not in _FAMILIES:
        raise ValueError(f"model {name!r} names the family {spec.family!r}, which is not registered")
    if spec.native_task not in TASKS:
        raise ValueError(f"model {name!r} has native_task {spec.native_task!r}; use one of {', '.join(TASKS)}")
    _REGISTRY[name] = spec
    for listener in list(_LISTENERS):
        listener(name, spec)


def on_register(listener: Callable[[str, ModelSpec], None]) -> None:
    """Call ``listener(name, spec)`` for every registered model, now and for every model registered
    later (how `derive` and the timm registration, `zoo.timm_compat`, see every name)."""
    _LISTENERS.append(listener)
    for name, spec in list(_REGISTRY.items()):
        listener(name, spec)


def derive(rule: Callable[[str, ModelSpec], tuple[str, ModelSpec] | None]) -> None:
    """Register the (name, spec) that ``rule`` makes from every registered model, now and for every model
    registered later (None: nothing for that model)."""
    on_register(lambda name, spec: _apply(rule, name, spec))


def _apply(rule: Callable[[str, ModelSpec], tuple[str, ModelSpec] | None], name: str, spec: ModelSpec) -> None:
    made = rule(name, spec)
    if made is not None:
        register(*made)


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
