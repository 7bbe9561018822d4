"""Dense connectivity: `DenseLayer`, `DenseBlock` and `Transition` (Huang et al. 2017,
"Densely Connected Convolutional Networks", sec. 3).

Each layer sees the concatenation of every earlier feature map in its block and adds ``growth_rate``
channels. The names (``norm1``, ``relu1``, ``conv1``, ``denselayer1``...) are torchvision's, so its
DenseNet state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from .layers import make_act, make_conv, make_norm


@contextmanager
def _kept_statistics(*norms: nn.Module) -> Iterator[None]:
    """Restore the norms' running statistics after the backward pass recomputes them, so
    checkpointing does not count a batch twice."""
    buffers = [b for norm in norms for b in norm.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved, strict=True):
                buffer.copy_(value)


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1(bn_size * k)-BN-ReLU-Conv3x3(k), the "B" of DenseNet-BC (sec. 3, "Bottleneck
    layers"); with ``bn_size=0`` just BN-ReLU-Conv3x3(k), the original DenseNet's layer.

    ``memory_efficient`` recomputes the concatenation and bottleneck in the backward pass
    (non-reentrant checkpointing, Pleiss et al. 2017) instead of storing them.
    """

    def __init__(
        self,
        in_chs: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        self.bottleneck = bn_size > 0
        if self.bottleneck:
            mid = bn_size * growth_rate
            self.norm1, self.relu1, self.conv1 = (
                make_norm(norm, in_chs),
                make_act("relu", norm != "none"),
                make_conv(in_chs, mid, 1),
            )
            self.norm2, self.relu2, self.conv2 = (
                make_norm(norm, mid),
                make_act("relu", norm != "none"),
                make_conv(mid, growth_rate, 3),
            )
        else:
            self.norm1, self.relu1 = make_norm(norm, in_chs), make_act("relu", norm != "none")
            self.conv1 = make_conv(in_chs, growth_rate, 3)
        self.drop_rate, self.memory_efficient = drop_rate, memory_efficient

    def _layer(self, *features: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(out))) if self.bottleneck else out

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled() and any(f.requires_grad for f in features):
            # the whole layer is recomputed, so only its k output channels are kept: at batch 8 this
            # peaks at about half the default's memory, where recomputing only the concatenation and
            # the 1x1 bottleneck (torchvision's choice) still keeps the bottleneck's 4k channels
            norms = (self.norm1, self.norm2) if self.bottleneck else (self.norm1,)
            kept = _kept_statistics(*norms)
            out = cp.checkpoint(self._layer, *features, use_reentrant=False, context_fn=lambda: (nullcontext(), kept))
        else:
            out = self._layer(*features)
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and every layer's k channels,
    so it has ``in_chs + num_layers * growth_rate`` channels."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, **layer_kwargs) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_chs + i * growth_rate, growth_rate, **layer_kwargs))
        self.out_chs = in_chs + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1(floor(theta * m))-AvgPool2 between dense blocks (sec. 3, "Compression")."""

    def __init__(self, in_chs: int, out_chs: int, norm: str = "batch") -> None:
        super().__init__()
        self.norm, self.relu, self.conv = (
            make_norm(norm, in_chs),
            make_act("relu", norm != "none"),
            make_conv(in_chs, out_chs, 1),
        )
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
