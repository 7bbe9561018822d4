"""`create_model`: any registered configuration for any task, as its family's backbone plus the head its
family names for the task (`zoo.registry.HEADS`), so the 4 families x 3 tasks are 12 ways of composing
the same parts; `load_model` rebuilds a ``zoo export`` file's model.

Options reach every part that takes them: the backbone gets the paper's arguments and the overrides it
accepts, the head the ones it accepts, and an option no part takes is refused, naming close ones.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

import zoo.models  # noqa: F401  (each family registers its configurations when imported)
from zoo.heads import Classifier, HeatmapModel, UNet
from zoo.registry import (
    DEFAULT_CLASSES,
    DEFAULT_NUM_JOINTS,
    DEFAULT_SEG_CLASSES,
    OUTPUTS,
    TASKS,
    ModelSpec,
    get_family,
    get_spec,
)
from zoo.weights import METADATA_KEYS, load_weights, read_metadata

DEFAULT_OUTPUTS = {"classification": DEFAULT_CLASSES, "segmentation": DEFAULT_SEG_CLASSES, "pose": DEFAULT_NUM_JOINTS}
HEAD_CLASSES: dict[str, Callable[..., nn.Module] | None] = {
    "own": None,
    "pooled": Classifier,
    "unet": UNet,
    "heatmap": HeatmapModel,
    "self": None,
}
"""The class of each head kind, whose arguments are options of `create_model`."""
INTERNAL = frozenset({"num_outputs", "upsample_outputs", "out_reduction", "encoder", "backbone", "block"})
"""Arguments the factory sets itself."""


def _accepts(fn: Callable) -> set[str]:
    return {p for p in inspect.signature(fn).parameters if p not in ("self", "kwargs")}


def _take(fn: Callable, options: dict, **fixed: Any) -> nn.Module:
    """Call ``fn`` with the options it accepts, plus ``fixed``."""
    names = _accepts(fn)
    return fn(**{k: v for k, v in options.items() if k in names and k not in fixed}, **fixed)


def options_of(name: str, task: str) -> set[str]:
    """The options `create_model(name, task=task, ...)` accepts: the backbone's and the head's arguments,
    the task's output size, and ``drop_rate`` for classification."""
    spec = get_spec(name)
    head = HEAD_CLASSES[get_family(spec.family).heads[task]]
    allowed = _accepts(spec.cls) | (_accepts(head) if head is not None else set()) | {OUTPUTS[task]}
    if task == "classification":
        allowed.add("drop_rate")
    return allowed - INTERNAL - ({"num_classes"} if task == "pose" else set())


def output_size(spec: ModelSpec, task: str, opts: dict) -> int:
    """The task's output size: the option, else the configuration's head argument, else the task's default."""
    key = OUTPUTS[task]
    default = spec.head_kwargs.get(key, DEFAULT_OUTPUTS[task]) if task != "pose" else DEFAULT_OUTPUTS[task]
    return opts.get(key, default)


def create_model(
    name: str, *, task: str | None = None, weights: str | Path | None = None, **overrides: Any
) -> nn.Module:
    """Build the registered model ``name`` for ``task`` ("classification", "segmentation" or
    "pose"; default: the configuration's own task).

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
    allowed = options_of(name, task)
    for key in overrides:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TypeError(
                f"{name} ({task}) has no option {key!r}.{hint} Its options are: {', '.join(sorted(allowed))}."
            )
    model = _build(spec, task, dict(overrides))
    return model if weights is None else load_weights(model, weights, name=f"{name} ({task})")


def _build(spec: ModelSpec, task: str, opts: dict) -> nn.Module:
    """The backbone with the head its family names for ``task``."""
    family = get_family(spec.family)
    kind, fixed = family.heads[task], dict(family.task_kwargs.get(task, {}))
    options = {**spec.kwargs, **opts}
    if kind == "own":
        return _take(spec.cls, options)
    if kind == "self":
        return _take(spec.cls, options, num_outputs=output_size(spec, task, opts), **fixed)
    backbone = _take(spec.cls, options, **getattr(spec.cls, "headless", {}))
    head_options = {**spec.kwargs, **spec.head_kwargs, **opts}
    size = output_size(spec, task, opts)
    if kind == "pooled":
        return Classifier(backbone, size, opts.get("drop_rate", 0.0))
    if kind == "unet":
        return _take(UNet, head_options, encoder=backbone, num_classes=size, **fixed)
    return _take(HeatmapModel, head_options, backbone=backbone, num_joints=size, **fixed)


def load_model(path: str | Path) -> nn.Module:
    """Rebuild the model of a ``zoo export`` safetensors file: its metadata names the model, task and
    options, and `create_model` builds it and loads the weights."""
    metadata = read_metadata(path)
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ValueError(
            f"{path} has no {', '.join(missing)} metadata, so the model cannot be rebuilt from it alone: it was not "
            "written by `zoo export`. Build the model yourself and pass the file: create_model(name, weights=path)."
        )
    name, task, options = (metadata[key] for key in METADATA_KEYS)
    return create_model(name, task=task, weights=path, **json.loads(options))
