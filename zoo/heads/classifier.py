"""Classification on any backbone: global average pool plus linear on its deepest feature."""

from __future__ import annotations

from zoo.models.base import Backbone, ClassifierBackbone, HeadOnBackbone


class Classifier(HeadOnBackbone, ClassifierBackbone):
    """Global pool plus linear on the deepest feature of any backbone: how the U-shaped families
    (U-Net encoder, stacked hourglass) do classification. ``global_pool`` is timm's pool type."""

    def __init__(self, backbone: Backbone, num_classes: int, drop_rate: float = 0.0, global_pool: str = "avg") -> None:
        super().__init__()
        self.backbone = backbone
        self._init_classifier(num_classes, drop_rate, global_pool)
