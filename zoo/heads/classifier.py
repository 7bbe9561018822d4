"""Classification on any backbone: global average pool plus linear on its deepest feature."""

from __future__ import annotations

import torch

from zoo.models.base import Backbone, ClassifierBackbone, SizeRule


class Classifier(ClassifierBackbone):
    """Global pool plus linear on the deepest feature of any backbone: how the U-shaped families
    (U-Net encoder, stacked hourglass) do classification."""

    def __init__(self, backbone: Backbone, num_classes: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.in_chans, self.feature_info = backbone.in_chans, backbone.feature_info
        self._init_classifier(num_classes, drop_rate)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone.forward_intermediates(x)

    def input_sizes(self) -> SizeRule:
        return self.backbone.input_sizes()
