"""U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", sec. 2 and fig. 1): the family's backbone and its configurations.

`UNetEncoder` is the paper's contracting path (DoubleConv, then ``depth`` Down steps doubling the
width); the expanding path is a head, `zoo.heads.UNet`, that sits on any backbone's ``feature_info``,
so the family also registers ``unet_<name>`` for every ResNet and DenseNet: what
segmentation_models_pytorch calls a Unet with that encoder. ``padding="valid"`` is the paper's net
(572x572 in, 388x388 out); ``padding="same"`` returns the input's size for any size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import nn

from zoo.blocks import DoubleConv, Down
from zoo.registry import DEFAULT_SEG_CLASSES, Family, ModelSpec, derive, get_family, register, register_family

from .base import Backbone, SizeRule, check_images


def valid_output_size(size: int, depth: int) -> int | None:
    """The output side of a valid-padding U-Net of ``depth`` for an input side, or None when the
    input cannot pass (a side that is odd before a pool, or shrinks to nothing)."""
    for _ in range(depth):  # contracting path: DoubleConv loses 4, the pool halves
        size -= 4
        if size <= 0 or size % 2:
            return None
        size //= 2
    size -= 4  # the bottom DoubleConv
    for _ in range(depth):  # expanding path: up-conv doubles, DoubleConv loses 4
        size = size * 2 - 4
    return size if size > 0 else None


def nearest_valid_sizes(size: int, depth: int) -> tuple[int | None, int | None]:
    """The closest input sides at or below and above ``size`` that a valid U-Net can take."""
    below = next((s for s in range(size, 0, -1) if valid_output_size(s, depth)), None)
    above = next(s for s in itertools.count(size + 1) if valid_output_size(s, depth))
    return below, above


class UNetEncoder(Backbone):
    """The contracting path: DoubleConv at full resolution, then ``depth`` x (max pool, DoubleConv),
    doubling the width each time (64..1024 in the paper)."""

    def __init__(
        self, in_chans: int = 1, base_width: int = 64, depth: int = 4, padding: str = "same", norm: str = "batch"
    ) -> None:
        super().__init__()
        self.in_chans, self.padding, self.depth = in_chans, padding, depth
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_chans, widths[0], padding=padding, norm=norm)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], padding, norm) for i in range(depth))
        self.feature_info = [
            dict(num_chs=w, reduction=2**i, module="inc" if i == 0 else f"downs.{i - 1}") for i, w in enumerate(widths)
        ]

    def input_sizes(self) -> SizeRule:
        """Same padding: any side from 2**depth. Valid padding: the sides whose every level stays even
        before its pool, ``2**depth * k + offset`` (16k + 12 from 188 at depth 4)."""
        step = 2**self.depth
        if self.padding == "same":
            return SizeRule(1, 0, step)
        first = next(s for s in itertools.count(1) if valid_output_size(s, self.depth))
        return SizeRule(step, first % step, first)

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans, "UNet")
        if torch.compiler.is_compiling():
            return
        smallest = 2**self.depth
        if self.padding == "same" and min(x.shape[-2:]) < smallest:
            raise ValueError(
                f"A U-Net of depth {self.depth} pools {self.depth} times, so each side must be at least {smallest} px; "
                f"got {x.shape[-2]}x{x.shape[-1]}. Resize or pad the input, or build the net with a smaller depth."
            )
        if self.padding == "valid":
            for side in x.shape[-2:]:
                if valid_output_size(side, self.depth) is None:
                    below, above = nearest_valid_sizes(side, self.depth)
                    works = " and ".join(str(s) for s in (below, above) if s is not None)
                    raise ValueError(
                        f"A valid-padding U-Net of depth {self.depth} cannot take a side of {side} px: every "
                        f"level must stay even before its 2x2 pool. The nearest sizes that work are {works} "
                        "(e.g. 572 -> 388 in the paper); resize or pad to one of them, or "
                        "build the net with padding='same'."
                    )

    def _stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self._stage(self.inc, x)
        yield x
        for down in self.downs:
            x = self._stage(down, x)
            yield x

    def _prune_stages(self, last: int) -> None:
        self.downs, self.depth = self.downs[:last], last


RONNEBERGER = "Ronneberger et al. 2015"
UNET = register_family(
    Family(
        "unet",
        heads={"classification": "pooled", "segmentation": "unet", "pose": "unet"},
        task_kwargs={"pose": {"out_reduction": 4}},  # the decoder stops at stride 4 for heatmaps
    )
)


def _register_configurations() -> None:
    """The paper's net (valid padding, no norm, 1 input channel, 2 classes; 572 -> 388, fig. 1) and its
    padded, batch-normalised variant that keeps any input's size."""
    for name, kwargs, input_size, variant in [
        ("unet", dict(in_chans=1, padding="valid", norm="none"), (1, 572, 572), "fig. 1"),
        ("unet_same", dict(in_chans=3, padding="same", norm="batch"), (3, 256, 256), "padded, with BN"),
    ]:
        spec = ModelSpec(
            family=UNET.name,
            cls=UNetEncoder,
            kwargs=kwargs,
            input_size=input_size,
            native_task="segmentation",
            paper=f"{RONNEBERGER}, {variant}",
            head_kwargs=dict(num_classes=2),
        )
        register(name, spec)


def unet_on_encoder(name: str, spec: ModelSpec) -> tuple[str, ModelSpec] | None:
    """``unet_<name>``: the U-Net decoder on the backbone of every model whose family segments with it."""
    if spec.family == UNET.name or get_family(spec.family).heads["segmentation"] != "unet":
        return None
    derived = ModelSpec(
        family=UNET.name,
        cls=spec.cls,
        kwargs=dict(spec.kwargs),
        input_size=spec.input_size,
        native_task="segmentation",
        paper=f"{RONNEBERGER} decoder on {name}",
        head_kwargs=dict(num_classes=DEFAULT_SEG_CLASSES),
    )
    return f"unet_{name}", derived


_register_configurations()
derive(unet_on_encoder)
