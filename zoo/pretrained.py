"""timm's ``pretrained_cfg`` for archzoo's models, and ``pretrained=True`` from a local file.

Every model `zoo.create_model` builds carries ``pretrained_cfg`` (and its old name ``default_cfg``):
the data config timm's ``resolve_data_config(model=m)`` reads (input size, ImageNet mean and std,
interpolation, crop) and the names of the first conv and the classifier (timm's
``timm.models.PretrainedCfg`` fields, https://huggingface.co/docs/timm/models).

archzoo downloads nothing, so ``pretrained=True`` needs a file, given the way timm loads weights
offline: ``pretrained_cfg_overlay=dict(file=PATH)``. The file is an archzoo safetensors export
(``zoo export``) or a torch state dict, e.g. torchvision's ResNet and DenseNet checkpoints, whose key
names archzoo keeps. As in timm's ``load_pretrained``, weights for another number of outputs leave the
model's output layers freshly initialised (fine-tuning on new classes); every other key must fit,
except BatchNorm's step counts, which files older than torch 0.4.1 (torchvision's) do not have.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .weights import load_weights, read_weights

__all__ = ["load_pretrained", "make_pretrained_cfg"]

IMAGENET_CROP_PCT = 0.875
"""The centre crop of ImageNet evaluation: resize to 256, crop 224 (torchvision's and timm's default)."""
TORCHVISION_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
"""The key names of torchvision's published DenseNet files ("norm.1" for "norm1"), which torchvision's
``models/densenet.py`` (``_load_state_dict``) renames with this pattern when it loads them."""


def _first_conv(model: nn.Module) -> str | None:
    return next((name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def make_pretrained_cfg(
    name: str, model: nn.Module, input_size: tuple[int, int, int], task: str, num_outputs: int
) -> dict[str, Any]:
    """The ``pretrained_cfg`` of ``model`` built as the registered ``name``: its native input size (with
    the model's channels), ImageNet's mean and std (the normalisation archzoo trains with, averaged over
    the channels for a model of other than 3 channels), bilinear resizing, ImageNet's centre crop for
    classification at 224 px and none otherwise, and the first conv and output layers' names. A plain
    dict with the fields of timm's ``PretrainedCfg`` (building a model does not import timm)."""
    chans = model.in_chans
    mean, std = (
        (IMAGENET_MEAN, IMAGENET_STD) if chans == 3 else ((sum(v) / 3,) * chans for v in (IMAGENET_MEAN, IMAGENET_STD))
    )
    outputs = model.output_layers()
    cfg = dict(
        architecture=name,
        input_size=(chans, *input_size[1:]),
        interpolation="bilinear",
        crop_pct=IMAGENET_CROP_PCT if task == "classification" and input_size[1] >= 224 else 1.0,
        mean=tuple(mean),
        std=tuple(std),
        num_classes=num_outputs,
        first_conv=_first_conv(model),
        classifier=outputs[0] if len(outputs) == 1 else outputs,
        crop_mode="center",
        fixed_input_size=False,
    )
    return {key: value for key, value in cfg.items() if value not in (None, ())}


def _renamed(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {TORCHVISION_DENSENET_KEY.sub(r"\1\2", k): v for k, v in state_dict.items()}


def load_pretrained(model: nn.Module, file: str | Path | None, name: str) -> nn.Module:
    """Load ``file`` into ``model`` for ``pretrained=True``, strictly except for the output layers
    (``model.output_layers()``), which keep their fresh weights when the file's have another shape or
    are absent (a feature extractor). A missing ``file`` raises a ValueError naming the fix."""
    if not file:
        raise ValueError(
            f"pretrained=True for {name} needs a weights file: archzoo downloads nothing. Pass "
            "pretrained_cfg_overlay=dict(file=PATH) with a `zoo export` safetensors file or a torch state dict "
            "(torchvision's ResNet and DenseNet files load as they are), or use create_model(name, weights=PATH)."
        )
    given = _renamed(read_weights(file))
    own = model.state_dict()
    prefixes = tuple(f"{layer}." for layer in model.output_layers())
    state_dict = {k: v for k, v in given.items() if not (k.startswith(prefixes) and k not in own)}
    for key, value in own.items():
        if key.startswith(prefixes) and (key not in state_dict or state_dict[key].shape != value.shape):
            state_dict[key] = value  # the fresh output layer
        elif key.endswith(".num_batches_tracked") and key not in state_dict:
            state_dict[key] = value  # files saved before torch 0.4.1 have no BN step counts (torchvision's)
    return load_weights(model, state_dict, name=f"{name} (weights file {file})")
