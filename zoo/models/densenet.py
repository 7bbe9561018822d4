"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

The ImageNet layout (7x7/2 stem and max pool, four dense blocks, sec. 3 and table 1) and the
CIFAR layout (3x3 stem with 16 or 2k channels, three dense blocks, sec. 4.2), from the shared
`DenseBlock` and `Transition`. Key names follow torchvision's ``models/densenet.py``, so its
state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import DenseBlock, Transition, make_act, make_conv, make_norm
from zoo.registry import Family, ModelSpec, register, register_family

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
        global_pool: timm's pool type before the classifier ("avg", "max", "avgmax", "catavgmax").
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
        global_pool: str = "avg",
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
        self._init_classifier(num_classes, head_drop_rate, global_pool)

    def _stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        taps = {info["module"].removeprefix("features.") for info in self.feature_info}
        for name, module in self.features.named_children():
            x = self._stage(module, x)
            if name == "norm5":
                x = F.relu(x)  # the final BN-ReLU before pooling, as torchvision
            if name in taps:
                yield x

    def _prune_stages(self, last: int) -> None:
        names = [name for name, _ in self.features.named_children()]
        tap = self.feature_info[last]["module"].removeprefix("features.")
        for name in names[names.index(tap) + 1 :]:
            delattr(self.features, name)


# --- the papers' configurations ----------------------------------------------------------------------
register_family(Family("densenet", heads={"classification": "own", "segmentation": "unet", "pose": "heatmap"}))


def _register_configurations() -> None:
    """DenseNet-121..264 and -161 (ImageNet, Huang et al. 2017, table 1), and the CIFAR nets of table 2:
    DenseNet (L=40, k=12) and DenseNet-BC (bottleneck and compression 0.5)."""
    paper, imagenet, cifar = "Huang et al. 2017", (3, 224, 224), (3, 32, 32)

    def add(name: str, input_size: tuple[int, int, int], table: str, **kwargs: object) -> None:
        spec = ModelSpec(
            family="densenet",
            cls=DenseNet,
            kwargs=kwargs,
            input_size=input_size,
            native_task="classification",
            paper=f"{paper}, {table}",
        )
        register(name, spec)

    for name, k, blocks, init in [
        ("densenet121", 32, (6, 12, 24, 16), 64),
        ("densenet169", 32, (6, 12, 32, 32), 64),
        ("densenet201", 32, (6, 12, 48, 32), 64),
        ("densenet264", 32, (6, 12, 64, 48), 64),
        ("densenet161", 48, (6, 12, 36, 24), 96),
    ]:
        add(name, imagenet, "table 1", growth_rate=k, block_config=blocks, num_init_features=init)
    for name, k, depth, bc in [
        ("densenet40_k12", 12, 40, False),
        ("densenet_bc100_k12", 12, 100, True),
        ("densenet_bc250_k24", 24, 250, True),
        ("densenet_bc190_k40", 40, 190, True),
    ]:
        n = (depth - 4) // (6 if bc else 3)
        add(
            name,
            cifar,
            "table 2",
            growth_rate=k,
            block_config=(n,) * 3,
            num_init_features=2 * k if bc else 16,
            bn_size=4 if bc else 0,
            compression=0.5 if bc else 1.0,
            stem="cifar",
            num_classes=10,
        )


_register_configurations()
