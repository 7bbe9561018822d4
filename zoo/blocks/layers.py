"""Layer factories and `ConvNormAct`: the one place where convs, norms and activations are made.

Every block and family builds its convolutions, normalisations and activations through these
factories, so a switch such as ``norm="group"`` reaches every layer of every model.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "group", "none")
ACTS = ("relu", "none")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(choices)}.")


def make_norm(norm: str, channels: int) -> nn.Module:
    """A normalisation layer over ``channels``: BatchNorm, GroupNorm (32 groups, or fewer when the
    channel count is not divisible, as in Wu & He 2018) or identity."""
    _check_choice("norm", norm, NORMS)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


def make_act(act: str, inplace: bool = True) -> nn.Module:
    """An activation layer. In place only where the caller knows its input is a fresh tensor (after
    a norm): after an identity norm it would overwrite the caller's tensor."""
    _check_choice("act", act, ACTS)
    return nn.ReLU(inplace=inplace) if act == "relu" else nn.Identity()


def make_conv(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: int | None = None,
) -> nn.Conv2d:
    """A 2-d convolution whose default padding keeps the size ("same" for stride 1)."""
    if padding is None:
        padding = dilation * (kernel_size - 1) // 2
    return nn.Conv2d(
        in_chs, out_chs, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias
    )


def make_upconv(in_chs: int, out_chs: int, kernel_size: int = 2, stride: int = 2, bias: bool = False) -> nn.Module:
    """A transposed convolution that multiplies the size by ``stride`` exactly (k=2,s=2 as in
    Ronneberger et al. 2015; k=4,s=2 as in Xiao et al. 2018)."""
    padding = (kernel_size - stride) // 2
    return nn.ConvTranspose2d(in_chs, out_chs, kernel_size, stride=stride, padding=padding, bias=bias)


class ConvNormAct(nn.Sequential):
    """Convolution, normalisation and activation in post order (conv-norm-act, He et al. 2015)
    or pre order (norm-act-conv, He et al. 2016 "Identity Mappings"; UDL ch. 11).

    ``transposed=True`` makes the convolution a transposed one that upsamples by ``stride``.
    The conv has a bias only when ``norm="none"`` (a bias next to BatchNorm is wasted).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm: str = "batch",
        act: str = "relu",
        order: str = "post",
        padding: int | None = None,
        transposed: bool = False,
    ) -> None:
        _check_choice("order", order, ("post", "pre"))
        super().__init__()
        bias = norm == "none"
        if transposed:
            conv = make_upconv(in_chs, out_chs, kernel_size, stride, bias=bias)
        else:
            conv = make_conv(in_chs, out_chs, kernel_size, stride, dilation, groups, bias, padding)
        if order == "post":
            self.conv, self.norm, self.act = conv, make_norm(norm, out_chs), make_act(act)
        else:
            self.norm, self.act, self.conv = make_norm(norm, in_chs), make_act(act, inplace=norm != "none"), conv
        self.in_chs, self.out_chs = in_chs, out_chs


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth", sec. 3): in training,
    drop a residual branch for a whole sample with probability ``drop_prob`` and scale the kept ones by
    1 / (1 - drop_prob), so the expected output is unchanged; the identity in evaluation. The same draws as
    timm's ``DropPath``, without importing timm."""

    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_path={drop_prob} must be in [0, 1).")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
