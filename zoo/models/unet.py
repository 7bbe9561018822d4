"""U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", sec. 2 and fig. 1), with any zoo backbone as its encoder.

`UNetEncoder` is the paper's contracting path (DoubleConv, then ``depth`` Down steps doubling the
width); `zoo.heads.UNetDecoder` is the expanding path on any backbone's ``feature_info``, so ``UNet(resnet34)``
is what segmentation_models_pytorch calls a Unet with a ResNet-34 encoder. ``padding="valid"`` is
the paper's net (572x572 in, 388x388 out); ``padding="same"`` returns the input's size for any size.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import DoubleConv, Down, make_conv
from zoo.heads.decoder import UNetDecoder

from .base import Backbone, check_images, he_init


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

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans, "UNet")
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

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(x)
        features = [self.inc(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features


class UNet(Backbone):
    """Encoder, decoder and a 1x1 conv to ``num_classes`` maps.

    With the paper's valid padding the output is smaller than the input (572 -> 388); otherwise
    the output is at ``out_reduction`` of the input (1: the input's size, resized bilinearly when
    the encoder's shallowest feature is coarser, as with a ResNet's stride-2 stem).
    """

    def __init__(
        self,
        encoder: Backbone,
        num_classes: int = 2,
        decoder_channels: list[int] | None = None,
        up_mode: str = "transpose",
        padding: str = "same",
        norm: str = "batch",
        out_reduction: int = 1,
    ) -> None:
        super().__init__()
        self.encoder, self.num_classes, self.out_reduction = encoder, num_classes, out_reduction
        self.in_chans, self.feature_info = encoder.in_chans, encoder.feature_info
        self.decoder = UNetDecoder(encoder.feature_info, decoder_channels, up_mode, padding, norm, out_reduction)
        self.head = make_conv(self.decoder.out_chs, num_classes, 1, bias=True)
        self.valid = padding == "valid"
        he_init(self.decoder)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.forward_intermediates(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.decoder(self.forward_intermediates(x)))
        if not self.valid and self.decoder.reduction != self.out_reduction:
            size = [-(-s // self.out_reduction) for s in x.shape[-2:]]
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out
