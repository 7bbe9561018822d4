"""`create_model`: any registered configuration for any task, as its family's backbone plus the head its
family names for the task (`zoo.registry.HEADS`), so the 4 families x 3 tasks are 12 ways of composing
the same parts; `load_model` rebuilds a ``zoo export`` file's model.

Options reach every part that takes them: the backbone gets the paper's arguments and the overrides it
accepts, the head the ones it accepts, and an option no part takes is refused, naming close ones.

timm's options work as in ``timm.create_model`` (https://huggingface.co/docs/timm/feature_extraction):
``features_only`` and ``out_indices`` make a feature extractor (timm's ``FeatureGetterNet`` over
`zoo.models.Backbone.forward_intermediates`, whose ``feature_info`` answers ``channels()`` and
``reduction()``), ``global_pool`` sets a classifier's pooling, and ``pretrained=True`` loads the file
of ``pretrained_cfg_overlay=dict(file=PATH)`` (`zoo.pretrained`). Every model carries timm's
``pretrained_cfg``.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

import zoo.models  # noqa: F401  (each family registers its configurations when imported)
from zoo.heads import Classifier, HeatmapModel, UNet
from zoo.models.base import take_indices
from zoo.pretrained import load_pretrained, make_pretrained_cfg
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
        allowed |= {"drop_rate", "global_pool"}
    return allowed - INTERNAL - ({"num_classes"} if task == "pose" else set())


def feature_options_of(name: str) -> set[str]:
    """The options `create_model(name, features_only=True, ...)` accepts: the backbone's, less its head's."""
    spec = get_spec(name)
    return _accepts(spec.cls) - INTERNAL - set(getattr(spec.cls, "headless", {})) - {"global_pool", "drop_rate"}


def _check_options(name: str, label: str, given: dict, allowed: set[str]) -> None:
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TypeError(
                f"{name} ({label}) has no option {key!r}.{hint} Its options are: {', '.join(sorted(allowed))}."
            )


def output_size(spec: ModelSpec, task: str, opts: dict) -> int:
    """The task's output size: the option, else the configuration's head argument, else the task's default."""
    key = OUTPUTS[task]
    default = spec.head_kwargs.get(key, DEFAULT_OUTPUTS[task]) if task != "pose" else DEFAULT_OUTPUTS[task]
    return opts.get(key, default)


def create_model(
    name: str,
    *,
    task: str | None = None,
    weights: str | Path | None = None,
    pretrained: bool = False,
    pretrained_cfg_overlay: dict | None = None,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build the registered model ``name`` for ``task`` ("classification", "segmentation" or
    "pose"; default: the configuration's own task).

    Overrides are the block and family options (``in_chans``, ``shortcut``, ``order``, ``plain``,
    ``zero_init_residual``, ``residual_scale``, ``norm``, ``memory_efficient``, ``padding``,
    ``num_stacks``...), plus ``num_classes`` (classification, segmentation) or ``num_joints``
    (pose), and for classification ``drop_rate`` and timm's ``global_pool``. Segmentation output has
    the input's size (smaller with valid padding); pose output is heatmaps at stride 4, a list with one
    entry per stack for the hourglass.

    ``weights``: a safetensors file (e.g. from ``zoo export``) or a torch state dict file to load,
    strictly, read without running code from it (`zoo.weights.load_weights`); weights that do not
    fit raise a `zoo.weights.WeightsMismatchError` naming the model and the offending keys.

    timm's options: ``pretrained=True`` loads ``pretrained_cfg_overlay["file"]`` (`zoo.pretrained`:
    the output layers may differ, e.g. for new classes); ``features_only=True`` returns the backbone's
    feature maps ``out_indices`` (default all; an int n for the last n) as a list, from a timm
    ``FeatureGetterNet`` with ``feature_info.channels()`` and ``.reduction()``.
    """
    spec = get_spec(name)
    if out_indices is not None and not features_only:
        raise ValueError(f"out_indices={out_indices!r} selects feature maps; pass features_only=True with it.")
    if weights is not None and pretrained:
        raise ValueError(
            "Pass either weights=PATH or pretrained=True with pretrained_cfg_overlay=dict(file=PATH), not both."
        )
    overlay = dict(pretrained_cfg_overlay or {})
    if features_only:
        if task is not None:
            raise ValueError(f"features_only=True builds {name}'s backbone alone; drop task={task!r}.")
        _check_options(name, "features_only", overrides, feature_options_of(name))
        model = _take(spec.cls, {**spec.kwargs, **overrides})
        task, num_outputs = spec.native_task, 0
    else:
        task = task or spec.native_task
        if task not in TASKS:
            raise ValueError(f"task={task!r} is not supported; choose one of {', '.join(TASKS)}.")
        _check_options(name, task, overrides, options_of(name, task))
        model, num_outputs = _build(spec, task, dict(overrides)), output_size(spec, task, overrides)
    cfg = {**make_pretrained_cfg(name, model, spec.input_size, task, num_outputs), **overlay}
    label = f"{name} ({'features' if features_only else task})"
    if pretrained:
        load_pretrained(model, cfg.get("file"), label)
    elif weights is not None:
        load_weights(model, weights, name=label)
    if features_only:
        model, cfg = _feature_extractor(model, name, out_indices, cfg)
    model.pretrained_cfg = model.default_cfg = cfg
    return model


def _feature_extractor(
    model: nn.Module, name: str, out_indices: int | Sequence[int] | None, cfg: dict
) -> tuple[nn.Module, dict]:
    """timm's ``FeatureGetterNet`` on ``model`` (it prunes the layers and head that the feature maps
    ``out_indices`` do not need, and returns those maps as a list) and its ``pretrained_cfg``, without
    the classifier's entries as timm's builder does."""
    from timm.models._builder import pretrained_cfg_for_features
    from timm.models._features import FeatureGetterNet  # timm is imported on first use: `import zoo` stays fast

    if not getattr(model, "feature_info", None):
        raise ValueError(f"{name} has no feature stages (no feature_info), so features_only=True cannot apply.")
    indices = tuple(range(len(model.feature_info))) if out_indices is None else out_indices
    take_indices(model.feature_info, indices, name)  # a clear error for indices out of range
    return FeatureGetterNet(model, out_indices=indices), pretrained_cfg_for_features(cfg)


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
        return Classifier(backbone, size, opts.get("drop_rate", 0.0), opts.get("global_pool", "avg"))
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
