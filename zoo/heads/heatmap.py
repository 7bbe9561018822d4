"""Heatmaps at stride 4 from any backbone's deepest feature: the deconvolution head of
SimpleBaseline (Xiao et al. 2018, "Simple Baselines for Human Pose Estimation and Tracking",
sec. 2): 4x4 stride-2 transposed convs with BN-ReLU until stride 4, then a 1x1 conv per joint."""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo.blocks import ConvNormAct, make_conv
from zoo.models.base import Backbone, HeadOnBackbone, he_init


class HeatmapHead(nn.Sequential):
    """log2(in_reduction / out_reduction) deconv layers of ``width`` channels, then 1x1 to joints.

    He initialisation, except the last 1x1 convolution: normal with std 0.001, as in the released code
    of SimpleBaseline (Xiao et al. 2018), so that the first heatmaps are near zero, like most of the
    target's pixels. With He's init there, the first heatmaps have unit scale and training spends its
    first epochs undoing that: PCK 0.44 after 10 epochs instead of 0.88 (docs/ablation.md).
    """

    LAST_STD = 0.001

    def __init__(
        self,
        in_chs: int,
        num_joints: int,
        in_reduction: int,
        out_reduction: int = 4,
        width: int = 256,
        norm: str = "batch",
    ) -> None:
        num_up = int(math.log2(in_reduction / out_reduction)) if in_reduction > out_reduction else 0
        if 2**num_up * out_reduction != max(in_reduction, out_reduction) or in_reduction < out_reduction:
            raise ValueError(
                f"A heatmap head cannot go from reduction {in_reduction} to {out_reduction}: "
                "it upsamples by powers of 2 only."
            )
        layers, chs = [], in_chs
        for _ in range(num_up):
            layers.append(ConvNormAct(chs, width, 4, stride=2, norm=norm, transposed=True))
            chs = width
        layers.append(make_conv(chs, num_joints, 1, bias=True))
        super().__init__(*layers)
        he_init(self)
        nn.init.normal_(self[-1].weight, std=self.LAST_STD)


class HeatmapModel(HeadOnBackbone):
    """A backbone plus a `HeatmapHead` on its deepest feature: heatmaps at stride 4."""

    def __init__(self, backbone: Backbone, num_joints: int, width: int = 256, norm: str = "batch") -> None:
        super().__init__()
        self.backbone, self.num_joints = backbone, num_joints
        last = backbone.feature_info[-1]
        self.head = HeatmapHead(last["num_chs"], num_joints, last["reduction"], 4, width, norm)

    def output_layers(self) -> tuple[str, ...]:
        return (f"head.{len(self.head) - 1}",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))
