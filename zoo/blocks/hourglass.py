"""Hourglass blocks: the pre-activation bottleneck `Residual` and the recursive `Hourglass`
(Newell et al. 2016, "Stacked Hourglass Networks for Human Pose Estimation", sec. 3.1 and fig. 3-4;
after princeton-vl's `models/layers.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import make_conv
from .residual import ResidualBlock


class Residual(ResidualBlock):
    """BN-ReLU-Conv1x1(out/2)-BN-ReLU-Conv3x3(out/2)-BN-ReLU-Conv1x1(out), plus the input.

    The 1x1 skip convolution exists only when the channel count changes, so no parameter is
    built that the forward pass does not use.
    """

    def __init__(self, in_chs: int, out_chs: int, norm: str = "batch") -> None:
        mid = out_chs // 2
        convs = [make_conv(in_chs, mid, 1), make_conv(mid, mid, 3), make_conv(mid, out_chs, 1)]
        super().__init__(convs, in_chs, out_chs, 1, shortcut="B", order="pre", norm=norm)


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels: an upper branch (Residual at this scale) plus a lower
    branch (max pool, Residual, the hourglass of depth-1 or a Residual at the bottom, Residual,
    nearest upsample x2); the two are added. Each side must be divisible by 2**depth."""

    def __init__(self, depth: int, channels: int, increase: int = 0, norm: str = "batch") -> None:
        super().__init__()
        low = channels + increase
        self.depth = depth
        self.up1 = Residual(channels, channels, norm)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = Residual(channels, low, norm)
        self.low2 = Hourglass(depth - 1, low, increase, norm) if depth > 1 else Residual(low, low, norm)
        self.low3 = Residual(low, channels, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")
