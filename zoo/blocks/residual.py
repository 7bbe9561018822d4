"""Residual blocks: `BasicBlock` and `Bottleneck`, in post- and pre-activation form.

He et al. 2015, "Deep Residual Learning for Image Recognition", sec. 3.3 (shortcut options A/B/C)
and sec. 4.1 (the bottleneck); He et al. 2016, "Identity Mappings in Deep Residual Networks"
(pre-activation, BN-ReLU-conv); Prince, "Understanding Deep Learning" ch. 11 (fig. 11.6b: scaling
each residual sum by 1/sqrt(2) keeps the activation variance flat at initialisation).

The attribute names (``conv1``, ``bn1``, ..., ``downsample``) are torchvision's, so torchvision
state dicts load into the post-activation blocks with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import DropPath, make_act, make_conv, make_norm

SHORTCUTS = ("A", "B", "C")


class ZeroPadShortcut(nn.Module):
    """Option A: identity with strided subsampling and zero-padded extra channels (no parameters)."""

    def __init__(self, stride: int, extra_chs: int) -> None:
        super().__init__()
        self.stride, self.extra_chs = stride, extra_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_chs)) if self.extra_chs else x


class ResidualBlock(nn.Module):
    """A stack of convolutions plus a shortcut: the shared machinery of the residual blocks.

    Subclasses pass their convolutions; this class adds one norm per conv (``bn1``, ``bn2``...),
    the shortcut, the activations in the requested order, drop-path and residual scaling.

    Args:
        convs: the branch's convolutions in order.
        in_chs / out_chs / stride: the block's input and output channels and its stride.
        shortcut: "A" zero-padded identity, "B" 1x1 projection where the shape changes,
            "C" projection everywhere.
        order: "post" (conv-BN-ReLU, the sum then ReLU) or "pre" (BN-ReLU-conv, clean identity).
        plain: drop the shortcut (the "plain" nets of He et al. 2015 fig. 4).
        zero_init_residual: zero the branch's last norm weight (or its last conv, when no norm
            ends the branch) so the block starts as the identity (Goyal et al. 2017).
        residual_scale: multiply the sum by this (UDL fig. 11.6b uses 1/sqrt(2)).
        drop_path: stochastic depth probability for the branch (Huang et al. 2016).
    """

    def __init__(
        self,
        convs: list[nn.Conv2d],
        in_chs: int,
        out_chs: int,
        stride: int,
        *,
        shortcut: str = "B",
        order: str = "post",
        norm: str = "batch",
        act: str = "relu",
        plain: bool = False,
        zero_init_residual: bool = False,
        residual_scale: float = 1.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut={shortcut!r} is not supported; choose one of A, B, C (He et al. 2015).")
        if order not in ("post", "pre"):
            raise ValueError(f"order={order!r} is not supported; choose 'post' or 'pre'.")
        self.order, self.plain, self.residual_scale = order, plain, residual_scale
        self.num_convs = len(convs)
        for i, conv in enumerate(convs, start=1):
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", make_norm(norm, conv.out_channels if order == "post" else conv.in_channels))
        self.relu = make_act(act, inplace=order == "post" or norm != "none")
        self.downsample = None if plain else self._make_shortcut(shortcut, in_chs, out_chs, stride, norm)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if zero_init_residual:
            self.zero_init_last()

    def zero_init_last(self) -> None:
        """Zero the branch's last norm weight, or its last conv when no norm ends the branch (pre
        order, ``norm="none"``), so the block starts as its shortcut."""
        last_norm = getattr(self, f"bn{self.num_convs}")
        if self.order == "post" and isinstance(last_norm, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.zeros_(last_norm.weight)
        else:
            nn.init.zeros_(getattr(self, f"conv{self.num_convs}").weight)

    def _make_shortcut(self, kind: str, in_chs: int, out_chs: int, stride: int, norm: str) -> nn.Module | None:
        reshapes = stride != 1 or in_chs != out_chs
        if kind == "A" or (kind == "B" and not reshapes):
            return ZeroPadShortcut(stride, out_chs - in_chs) if reshapes else None
        proj = make_conv(in_chs, out_chs, 1, stride=stride, bias=norm == "none")
        if self.order == "pre":  # the pre-activation shortcut sees BN-ReLU'd input, no norm after
            return nn.Sequential(proj)
        return nn.Sequential(proj, make_norm(norm, out_chs))

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_convs + 1):
            conv, norm = getattr(self, f"conv{i}"), getattr(self, f"bn{i}")
            if self.order == "pre":
                x = conv(self.relu(norm(x))) if i > 1 else conv(x)
            else:
                x = norm(conv(x))
                if i < self.num_convs:
                    x = self.relu(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut_in = x
        if self.order == "pre":
            x = self.relu(self.bn1(x))  # shared by the branch and a projection shortcut
            if isinstance(self.downsample, nn.Sequential):
                shortcut_in = x
        out = self._branch(x)
        if self.plain:
            return self.relu(out) if self.order == "post" else out
        identity = self.downsample(shortcut_in) if self.downsample is not None else shortcut_in
        out = self.drop_path(out)
        out += identity  # in place, as torchvision: out is the branch's own fresh tensor, and no backward needs it
        if self.residual_scale != 1.0:
            out = out * self.residual_scale
        return self.relu(out) if self.order == "post" else out


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions (He et al. 2015, fig. 2 / fig. 5 left). Unlike torchvision's, it
    takes ``dilation`` > 1 (for dilated, output-stride-8 backbones)."""

    expansion = 1

    def __init__(
        self, in_chs: int, planes: int, stride: int = 1, dilation: int = 1, first_dilation: int | None = None, **kwargs
    ) -> None:
        first_dilation = first_dilation or dilation
        convs = [
            make_conv(in_chs, planes, 3, stride=stride, dilation=first_dilation),
            make_conv(planes, planes, 3, dilation=dilation),
        ]
        super().__init__(convs, in_chs, planes, stride, **kwargs)


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand by 4 (He et al. 2015, fig. 5 right). The stride sits on the 3x3
    (ResNet v1.5, as torchvision); ``stride_in_1x1=True`` puts it on the first 1x1 (the paper's v1)."""

    expansion = 4

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        first_dilation: int | None = None,
        stride_in_1x1: bool = False,
        **kwargs,
    ) -> None:
        first_dilation = first_dilation or dilation
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        convs = [
            make_conv(in_chs, planes, 1, stride=s1),
            make_conv(planes, planes, 3, stride=s3, dilation=first_dilation),
            make_conv(planes, planes * self.expansion, 1),
        ]
        super().__init__(convs, in_chs, planes * self.expansion, stride, **kwargs)
