"""U-Net stages: `DoubleConv`, `Down`, `Up` (Ronneberger et al. 2015, "U-Net", sec. 2 and fig. 1).

``padding="valid"`` is the paper: unpadded 3x3 convs, so every DoubleConv loses 4 pixels and the
skip connection is centre-cropped to the upsampled map ("crop and copy"). ``padding="same"``
pads the convs; `Up` then fits the upsampled map to the skip's size, so any input size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvNormAct, make_conv, make_upconv

PADDINGS = ("same", "valid")
UP_MODES = ("transpose", "bilinear")


def fit_to(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Centre-crop or zero-pad the last two dims of ``x`` to ``size``. (Traced for export, it always
    pads, by zero where the sizes match: a test on the sizes would fix them in the exported graph.)"""
    (height, width), (h, w) = size, x.shape[-2:]
    if not torch.compiler.is_compiling() and (h, w) == (height, width):
        return x
    # floor((target - h) / 2), divided as a sum of sizes: never negative, so an exported graph that
    # truncates an integer division (ONNX) rounds as PyTorch does
    top, left = (height + h) // 2 - h, (width + w) // 2 - w
    # F.pad with negative amounts crops, so one call covers both directions.
    return F.pad(x, (left, width - w - left, top, height - h - top))


class DoubleConv(nn.Sequential):
    """(3x3 conv, norm, ReLU) twice: the unit of every U-Net level."""

    def __init__(
        self, in_chs: int, out_chs: int, mid_chs: int | None = None, padding: str = "same", norm: str = "batch"
    ) -> None:
        if padding not in PADDINGS:
            raise ValueError(f"padding={padding!r} is not supported; choose 'same' or 'valid'.")
        pad = 1 if padding == "same" else 0
        mid_chs = mid_chs or out_chs
        super().__init__(
            ConvNormAct(in_chs, mid_chs, 3, norm=norm, padding=pad),
            ConvNormAct(mid_chs, out_chs, 3, norm=norm, padding=pad),
        )


class Down(nn.Sequential):
    """2x2 max pool, then DoubleConv (one contracting step)."""

    def __init__(self, in_chs: int, out_chs: int, padding: str = "same", norm: str = "batch") -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_chs, out_chs, padding=padding, norm=norm))


class Up(nn.Module):
    """Upsample x2 (2x2 transposed conv, or bilinear plus 1x1 conv), join the skip, DoubleConv.

    With ``padding="valid"`` the skip is centre-cropped to the upsampled map (the paper); with
    ``"same"`` the upsampled map is fitted to the skip, so odd sizes round-trip. With ``skip_chs=0``
    there is no skip to join (a decoder stage above the encoder's finest feature, e.g. from a ResNet's
    stride-2 stem up to the input's resolution, as segmentation_models_pytorch's last U-Net stage).
    """

    def __init__(
        self,
        in_chs: int,
        skip_chs: int,
        out_chs: int,
        mode: str = "transpose",
        padding: str = "same",
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if mode not in UP_MODES:
            raise ValueError(f"up mode={mode!r} is not supported; choose 'transpose' or 'bilinear'.")
        if mode == "transpose":
            self.up = make_upconv(in_chs, out_chs, 2, 2, bias=True)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                make_conv(in_chs, out_chs, 1, bias=True),
            )
        self.padding = padding
        self.conv = DoubleConv(out_chs + skip_chs, out_chs, padding=padding, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        if skip is None:
            return self.conv(x)
        if self.padding == "valid":
            skip = fit_to(skip, x.shape[-2:])
        else:
            x = fit_to(x, skip.shape[-2:])
        return self.conv(torch.cat([skip, x], dim=1))
