"""What every backbone shares: input validation, `feature_info`, multi-scale features, and the
classification head API of timm (`forward_features`, `forward_head`, `reset_classifier`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class SizeRule:
    """The input sides a network takes: ``step * k + offset`` for whole k, and at least ``minimum``.

    ResNet and DenseNet take any side; a stacked hourglass of depth d multiples of 4 * 2**d; a
    valid-padding U-Net of depth d the sides whose every level stays even (16k + 12, from 188, at
    depth 4). Exports declare these sizes as their dynamic height and width.
    """

    step: int = 1
    offset: int = 0
    minimum: int = 1

    def accepts(self, side: int) -> bool:
        return side >= self.minimum and (side - self.offset) % self.step == 0

    def nearest(self, side: int) -> tuple[int | None, int]:
        """The accepted sides closest to ``side`` at or below it (None if none) and above it."""
        below = self.offset + (side - self.offset) // self.step * self.step
        above = below + self.step
        return (below if below >= self.minimum else None), max(above, self.minimum)

    def describe(self) -> str:
        if self.step == 1:
            return f"any size from {self.minimum}"
        if self.offset == 0:
            return f"multiples of {self.step} from {self.minimum}"
        return f"{self.step}k + {self.offset}, from {self.minimum}"

    def units(self, side: int) -> int:
        """k of an accepted side."""
        return (side - self.offset) // self.step

    def smallest_units(self) -> int:
        return math.ceil((self.minimum - self.offset) / self.step)


def check_images(x: torch.Tensor, in_chans: int, model: str, divisor: int = 1) -> None:
    """Raise a ValueError naming the problem and the fix when ``x`` is not a (B, in_chans, H, W)
    batch whose sides are multiples of ``divisor``. Runs before any computation; not while
    ``torch.compile`` or ``torch.export`` traces the model, where a check on the input's size would
    become a guard (an export then declares the accepted sizes itself, `Backbone.input_sizes`)."""
    if torch.compiler.is_compiling():
        return
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{model} expects a batch of images shaped (B, C, H, W); got {shape}. "
            "Add a batch dimension with x.unsqueeze(0) for a single image."
        )
    if x.shape[1] != in_chans:
        raise ValueError(
            f"{model} was built for {in_chans} input channels but got {x.shape[1]} "
            f"(input shape {tuple(x.shape)}). Build it with in_chans={x.shape[1]} "
            f"(create_model(..., in_chans={x.shape[1]})) or convert the images."
        )
    h, w = x.shape[-2:]
    if divisor > 1 and (h % divisor or w % divisor):
        fix = tuple(max(divisor, round(s / divisor) * divisor) for s in (h, w))
        raise ValueError(
            f"{model} needs height and width divisible by {divisor}; got {h}x{w}. "
            f"Resize or pad the input to e.g. {fix[0]}x{fix[1]}."
        )


def he_init(module: nn.Module, mode: str = "fan_in") -> None:
    """He et al. 2015 ("Delving Deep into Rectifiers") normal init for every conv, unit weight and
    zero bias for every norm: the initialisation torchvision uses for ResNet and DenseNet."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    """A network that yields one feature map per entry of ``feature_info`` (timm's convention:
    ``num_chs``, ``reduction`` and ``module`` per stage), so any head can sit on any family."""

    in_chans: int
    feature_info: list[dict]
    headless: ClassVar[dict] = {}
    """The arguments that build the backbone without a task head (for a head to sit on it)."""

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans, type(self).__name__)

    def input_sizes(self) -> SizeRule:
        """The input sides the network takes (any, by default)."""
        return SizeRule()

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps of every ``feature_info`` entry, shallow to deep."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map."""
        return self.forward_intermediates(x)[-1]

    @property
    def num_features(self) -> int:
        return self.feature_info[-1]["num_chs"]


class ClassifierBackbone(Backbone):
    """A backbone with global average pooling, dropout and a linear classifier. The classifier's
    attribute name is configurable so torchvision's key names (``fc``, ``classifier``) hold."""

    classifier_name = "fc"
    headless: ClassVar[dict] = {"num_classes": 0}

    def _init_classifier(self, num_classes: int, drop_rate: float = 0.0) -> None:
        self.num_classes, self.drop_rate = num_classes, drop_rate
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.reset_classifier(num_classes)

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs (0: no classifier)."""
        self.num_classes = num_classes
        head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(head, nn.Linear):
            nn.init.zeros_(head.bias)
        setattr(self, self.classifier_name, head)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
