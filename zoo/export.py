"""Deploying a model outside PyTorch training: ONNX files (for onnxruntime and the other ONNX runtimes)
and ``torch.export`` programs (``.pt2``), both with a dynamic batch and the input sizes the architecture
takes (`zoo.models.SizeRule`): any height and width for ResNet, DenseNet and same-padding U-Nets,
multiples of 4 * 2**depth for the stacked hourglass, 2**depth * k + offset for a valid-padding U-Net.

The graph ends at the network's raw output; the task's decoding stays outside, with the caller:
classification logits (B, classes); segmentation logits (B, classes, H, W) at the input's size
(smaller for a valid-padding U-Net); pose heatmaps (B, joints, H/4, W/4) at stride 4. A stacked
hourglass's last stack is exported (its best prediction). The ONNX file's metadata holds what a
runtime needs besides the weights (`onnx_metadata`). ONNX export needs the ``export`` extra
(``pip install 'archzoo[export]'``: onnx, onnxscript, onnxruntime); ``torch.export`` needs nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim

from .atomic import write_atomic
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .models.base import SizeRule

MAX_SIDE = 8192
MAX_BATCH = 4096
INPUT, OUTPUT = "images", "output"


class Deployable(nn.Module):
    """A model whose output is one tensor: the last stack of a stacked hourglass, the model's own else."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        output = self.model(images)
        return output[-1] if isinstance(output, (list, tuple)) else output


def input_rule(model: nn.Module) -> SizeRule:
    """The input sides an export of ``model`` takes: those the model takes (`Backbone.input_sizes`), from
    twice its deepest reduction, where every feature map is still 2 px wide (``torch.export`` treats a
    size of 1 apart, so a range that reaches it cannot stay symbolic)."""
    rule = model.input_sizes() if hasattr(model, "input_sizes") else SizeRule()
    deepest = max((info["reduction"] for info in getattr(model, "feature_info", [])), default=1)
    minimum = max(rule.minimum, 2 * deepest)
    while not rule.accepts(minimum):
        minimum += 1
    return SizeRule(rule.step, rule.offset, minimum)


def example_input(model: nn.Module, side: int | None = None, batch: int = 2) -> torch.Tensor:
    """A batch to trace ``model`` with: ``side`` (default: the smallest accepted side from 64), which the
    model must accept, else a ValueError names the sizes it takes."""
    rule = input_rule(model)
    if side is None:
        start = max(64, rule.minimum)
        side = start if rule.accepts(start) else rule.nearest(start)[1]
    if not rule.accepts(side):
        raise ValueError(f"{type(model).__name__} cannot take a side of {side} px: it takes {rule.describe()}.")
    device = next(model.parameters()).device
    return torch.randn(batch, getattr(model, "in_chans", 3), side, side, device=device)


def dynamic_shapes(model: nn.Module) -> dict[str, dict[int, Any]]:
    """``torch.export`` dynamic shapes of the input: batch, and height and width as the model takes them."""

    def side(name: str) -> Any:
        if rule.step == 1:
            return Dim(name, min=max(rule.minimum, 2), max=MAX_SIDE)
        units = Dim(f"{name}_units", min=max(rule.smallest_units(), 1), max=MAX_SIDE // rule.step)
        return rule.step * units + rule.offset if rule.offset else rule.step * units

    rule = input_rule(model)
    return {INPUT: {0: Dim("batch", min=1, max=MAX_BATCH), 2: side("height"), 3: side("width")}}


def export_program(model: nn.Module, example: torch.Tensor | None = None) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model`` (in eval mode) with a dynamic batch and the sizes it takes."""
    model = Deployable(model).eval()
    example = example if example is not None else example_input(model.model)
    with torch.no_grad():
        return torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes(model.model))


def save_program(model: nn.Module, path: str | Path, example: torch.Tensor | None = None) -> Path:
    """Write the ``torch.export`` program of ``model`` to ``path`` (``.pt2``; `torch.export.load` reads it)."""
    program = export_program(model, example)
    return write_atomic(Path(path), lambda file: torch.export.save(program, file))


def onnx_metadata(model: nn.Module, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The ONNX file's metadata: the input's sizes, normalisation and channels, the output's meaning,
    and ``metadata`` (the model's name and task, class or joint names...), each value a string (JSON
    for lists)."""
    rule = input_rule(model)
    values: dict[str, Any] = {
        "archzoo.input": f"{INPUT}: float32 (batch, {getattr(model, 'in_chans', 3)}, height, width), RGB in [0, 1] "
        "normalised by archzoo.mean and archzoo.std",
        "archzoo.input_sizes": rule.describe(),
        "archzoo.input_size_rule": {"step": rule.step, "offset": rule.offset, "minimum": rule.minimum},
        "archzoo.mean": list(IMAGENET_MEAN),
        "archzoo.std": list(IMAGENET_STD),
        **(metadata or {}),
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int | None = None,
    example: torch.Tensor | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as an ONNX file with a dynamic batch and the sizes it takes, and `onnx_metadata`.

    Args:
        model: a zoo model (any ``nn.Module`` taking a (B, C, H, W) batch).
        path: the ``.onnx`` file, written whole or not at all.
        opset: the ONNX opset (default: the exporter's).
        example: the batch to trace with (default: `example_input`).
        metadata: more metadata, e.g. ``{"archzoo.model": "resnet18", "archzoo.task": "classification"}``.
    """
    try:
        import onnxscript  # noqa: F401  (the exporter of the pinned torch needs it)
    except ImportError as error:
        raise ImportError(
            "ONNX export needs onnx and onnxscript: pip install 'archzoo[export]' (onnxruntime runs the files)"
        ) from error
    deployable = Deployable(model).eval()
    example = example if example is not None else example_input(model)
    with torch.no_grad():
        program = torch.onnx.export(
            deployable,
            (example,),
            dynamo=True,
            dynamic_shapes=dynamic_shapes(model),
            input_names=[INPUT],
            output_names=[OUTPUT],
            opset_version=opset,
            verbose=False,
        )
    program.model.metadata_props.update(onnx_metadata(model, metadata))
    path = Path(path)
    temporary = path.with_name(f".{path.name}.part")
    try:
        program.save(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
