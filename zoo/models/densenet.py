"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

The ImageNet layout (7x7/2 stem and max pool, four dense blocks, sec. 3 and table 1) and the
CIFAR layout (3x3 stem with 16 or 2k channels, three dense blocks, sec. 4.2), from the shared
`DenseBlock` and `Transition`. Key names follow torchvision's ``models/densenet.py``, so its
state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import DenseBlock, Transition, make_act, make_conv, make_norm

from .base import ClassifierBackbone, he_init


class DenseNet(ClassifierBackbone):
    """A densely connected network.

    Args:
        growth_rate: k, the channels each layer adds.
        block_config: layers per dense block.
        num_init_features: the stem's channels (64 for ImageNet, 16 or 2k on CIFAR).
        bn_size: bottleneck width factor (the "B" of DenseNet-BC); 0 for the original layer.
        compression: theta, the transitions' channel factor (0.5 for "C", 1.0 for none).
        drop_rate: dropout after each dense layer; ``head_drop_rate`` before the classifier.
        memory_efficient: checkpoint the bottlenecks (Pleiss et al. 2017).
        stem: "imagenet" or "cifar".
    """

    classifier_name = "classifier"

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        head_drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: str = "imagenet",
        memory_efficient: bool = False,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem={stem!r} is not supported; choose 'imagenet' or 'cifar'.")
        self.in_chans = in_chans
        if stem == "imagenet":
            layers = [
                ("conv0", make_conv(in_chans, num_init_features, 7, stride=2)),
                ("norm0", make_norm(norm, num_init_features)),
                ("relu0", make_act("relu")),
                ("pool0", nn.MaxPool2d(3, 2, 1)),
            ]
            self.feature_info, reduction = [dict(num_chs=num_init_features, reduction=2, module="features.relu0")], 4
        else:  # the CIFAR nets go straight from a 3x3 conv into the first dense block
            layers, self.feature_info, reduction = [("conv0", make_conv(in_chans, num_init_features, 3))], [], 1
        self.features = nn.Sequential(OrderedDict(layers))

        chs = num_init_features
        for i, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(
                num_layers,
                chs,
                growth_rate,
                bn_size=bn_size,
                drop_rate=drop_rate,
                memory_efficient=memory_efficient,
                norm=norm,
            )
            self.features.add_module(f"denseblock{i}", block)
            chs = block.out_chs
            if i < len(block_config):
                self.feature_info.append(dict(num_chs=chs, reduction=reduction, module=f"features.denseblock{i}"))
                out = int(chs * compression)
                self.features.add_module(f"transition{i}", Transition(chs, out, norm=norm))
                chs, reduction = out, reduction * 2
        self.features.add_module("norm5", make_norm(norm, chs))
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module="features.norm5"))
        he_init(self)
        self._init_classifier(num_classes, head_drop_rate)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(x)
        taps = {info["module"].removeprefix("features.") for info in self.feature_info}
        features = []
        for name, module in self.features.named_children():
            x = module(x)
            if name in taps:
                features.append(x)
        features[-1] = F.relu(features[-1])  # the final BN-ReLU before pooling, as torchvision
        return features
