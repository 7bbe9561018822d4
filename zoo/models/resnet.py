"""ResNet (He et al. 2015, "Deep Residual Learning for Image Recognition") and its
pre-activation form (He et al. 2016, "Identity Mappings in Deep Residual Networks").

One class, two layouts from the papers: the ImageNet layout (7x7/2 stem and max pool, four stages
at 64..512 planes, sec. 3.4 and table 1) and the CIFAR layout (3x3 stem with 16 channels, three
stages of n blocks at 16/32/64, 6n+2 layers, sec. 4.2). Key names follow torchvision's
``models/resnet.py``, so its state dicts load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from zoo.blocks import BasicBlock, Bottleneck, ResidualBlock, make_act, make_conv, make_norm
from zoo.registry import Family, ModelSpec, register, register_family

from .base import ClassifierBackbone, he_init

STEMS = ("imagenet", "cifar")


def dilation_for(output_stride: int, stem_stride: int, num_stages: int) -> list[bool]:
    """``replace_stride_with_dilation`` for a deepest stride of ``output_stride``: the last stages dilate
    instead of striding (each stage after the first halves the resolution)."""
    full = stem_stride * 2 ** (num_stages - 1)
    strides = [stem_stride * 2**i for i in range(num_stages)]
    if output_stride not in strides:
        raise ValueError(
            f"output_stride={output_stride} is not possible for this ResNet: its stages end at strides "
            f"{', '.join(map(str, strides))}; choose one of them ({full} is the undilated net)."
        )
    dilated = strides[::-1].index(output_stride)
    return [False] * (num_stages - 1 - dilated) + [True] * dilated


class ResNet(ClassifierBackbone):
    """A residual network built from `BasicBlock` or `Bottleneck`.

    Args:
        block: the block class (its ``expansion`` sets the output width of a stage).
        layers: blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18 or [3, 3, 3] for ResNet-20.
        stem: "imagenet" or "cifar" (the two layouts of the paper; the widths follow from it
            unless ``widths`` is given).
        shortcut / order / plain / zero_init_residual / residual_scale / norm / stride_in_1x1:
            passed to every block (see `zoo.blocks.ResidualBlock`).
        drop_path_rate: stochastic depth, rising linearly to this value over the blocks.
        replace_stride_with_dilation: per stage after the first, dilate instead of striding
            (torchvision's switch, here also for BasicBlock).
        output_stride: the same as the deepest map's stride (timm's argument, e.g. 16 or 8 for
            DeepLab's atrous encoder, Chen et al. 2018 sec. 3.1): the last stages dilate to keep it.
        global_pool: timm's pool type before the classifier ("avg", "max", "avgmax", "catavgmax").
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: str = "imagenet",
        widths: list[int] | None = None,
        shortcut: str = "B",
        order: str = "post",
        plain: bool = False,
        zero_init_residual: bool = False,
        residual_scale: float = 1.0,
        drop_path_rate: float = 0.0,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
        norm: str = "batch",
        stride_in_1x1: bool = False,
        replace_stride_with_dilation: list[bool] | None = None,
        output_stride: int | None = None,
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem={stem!r} is not supported; choose 'imagenet' or 'cifar'.")
        widths = list(widths or ([64, 128, 256, 512] if stem == "imagenet" else [16, 32, 64]))[: len(layers)]
        if output_stride is not None:
            if replace_stride_with_dilation is not None:
                raise ValueError("Give output_stride or replace_stride_with_dilation, not both: they say the same.")
            replace_stride_with_dilation = dilation_for(output_stride, 4 if stem == "imagenet" else 1, len(layers))
        dilate = list(replace_stride_with_dilation or [False] * (len(layers) - 1))
        if len(dilate) != len(layers) - 1 or len(widths) != len(layers):
            raise ValueError(
                f"layers={layers} needs {len(layers)} widths and {len(layers) - 1} "
                f"replace_stride_with_dilation flags; got widths={widths}, {dilate}."
            )
        self.in_chans, self.order = in_chans, order

        # Stem. A pre-activation CIFAR net starts with a bare conv: the first block's BN-ReLU follows.
        bare = stem == "cifar" and order == "pre"
        self.conv1 = make_conv(
            in_chans, widths[0], 7 if stem == "imagenet" else 3, stride=2 if stem == "imagenet" else 1
        )
        self.bn1 = make_norm("none" if bare else norm, widths[0])
        self.relu = make_act("none" if bare else "relu")
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        reduction = 4 if stem == "imagenet" else 1
        self.feature_info = [dict(num_chs=widths[0], reduction=2, module="relu")] if stem == "imagenet" else []

        block_kwargs = dict(
            shortcut=shortcut,
            order=order,
            plain=plain,
            zero_init_residual=zero_init_residual,
            residual_scale=residual_scale,
            norm=norm,
        )
        if block is Bottleneck:
            block_kwargs["stride_in_1x1"] = stride_in_1x1
        total, done = sum(layers), 0
        in_chs, dilation = widths[0], 1
        for i, (planes, depth) in enumerate(zip(widths, layers, strict=True)):
            stride = 1 if i == 0 else 2
            first_dilation = dilation
            if i > 0 and dilate[i - 1]:
                dilation, stride = dilation * stride, 1
            blocks = []
            for j in range(depth):
                blocks.append(
                    block(
                        in_chs,
                        planes,
                        stride if j == 0 else 1,
                        dilation=dilation,
                        first_dilation=first_dilation if j == 0 else dilation,
                        drop_path=drop_path_rate * (done + j) / max(total - 1, 1),
                        **block_kwargs,
                    )
                )
                in_chs = planes * block.expansion
            done += depth
            reduction *= stride
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.feature_info.append(dict(num_chs=in_chs, reduction=reduction, module=f"layer{i + 1}"))
        self.num_stages = len(layers)
        # Pre-activation nets end with BN-ReLU before pooling (He et al. 2016, fig. 1b).
        self.final_norm = make_norm(norm, in_chs) if order == "pre" else None
        self._init_weights(zero_init_residual)
        self._init_classifier(num_classes, drop_rate, global_pool)

    def _init_weights(self, zero_init_residual: bool) -> None:
        he_init(self, mode="fan_out")
        if zero_init_residual:  # re-apply: he_init has reset the zeroed weights
            for m in self.modules():
                if isinstance(m, ResidualBlock):
                    m.zero_init_last()

    def _stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.feature_info[0]["module"] == "relu":
            yield x
        x = self.maxpool(x)
        for i in range(1, self.num_stages + 1):
            x = self._stage(getattr(self, f"layer{i}"), x)
            if i == self.num_stages and self.final_norm is not None:
                x = torch.relu(self.final_norm(x))
            yield x

    def _prune_stages(self, last: int) -> None:
        kept = last + (0 if self.feature_info[0]["module"] == "relu" else 1)  # stages up to feature map `last`
        for i in range(kept + 1, self.num_stages + 1):
            delattr(self, f"layer{i}")
        if kept < self.num_stages:
            self.final_norm = None  # it follows the last stage only
        self.num_stages = kept


# --- the papers' configurations ----------------------------------------------------------------------
register_family(Family("resnet", heads={"classification": "own", "segmentation": "unet", "pose": "heatmap"}))


def _register_configurations() -> None:
    """ResNet-18..200 (ImageNet, table 1; 200 from the Identity Mappings paper), the CIFAR ResNets with
    option A shortcuts and their plain twins (sec. 4.2, fig. 6), and the pre-activation CIFAR nets."""
    he15, he16 = "He et al. 2015", "He et al. 2016 (Identity Mappings)"
    imagenet, cifar = (3, 224, 224), (3, 32, 32)

    def add(name: str, input_size: tuple[int, int, int], paper: str, **kwargs: object) -> None:
        spec = ModelSpec(
            family="resnet", cls=ResNet, kwargs=kwargs, input_size=input_size, native_task="classification", paper=paper
        )
        register(name, spec)

    for depth, block, layers in [
        (18, BasicBlock, [2, 2, 2, 2]),
        (34, BasicBlock, [3, 4, 6, 3]),
        (50, Bottleneck, [3, 4, 6, 3]),
        (101, Bottleneck, [3, 4, 23, 3]),
        (152, Bottleneck, [3, 8, 36, 3]),
        (200, Bottleneck, [3, 24, 36, 3]),
    ]:
        add(f"resnet{depth}", imagenet, he15 if depth < 200 else he16, block=block, layers=layers)
    for depth in (20, 32, 44, 56, 110, 1202):  # 6n+2 layers
        n = (depth - 2) // 6
        add(f"resnet{depth}", cifar, f"{he15}, sec. 4.2", block=BasicBlock, layers=[n] * 3, stem="cifar",
            shortcut="A", num_classes=10)  # fmt: skip
    for depth in (20, 32, 44, 56, 110):
        n = (depth - 2) // 6
        add(f"plain{depth}", cifar, f"{he15}, fig. 6", block=BasicBlock, layers=[n] * 3, stem="cifar", plain=True,
            num_classes=10)  # fmt: skip
    for depth, block in [(110, BasicBlock), (164, Bottleneck), (1001, Bottleneck)]:
        n = (depth - 2) // (6 if block is BasicBlock else 9)
        add(f"preact_resnet{depth}", cifar, he16, block=block, layers=[n] * 3, stem="cifar", order="pre",
            num_classes=10)  # fmt: skip


_register_configurations()
