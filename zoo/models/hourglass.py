"""The stacked hourglass network (Newell et al. 2016, "Stacked Hourglass Networks for Human Pose
Estimation", sec. 3.2-3.4; after princeton-vl's ``models/posenet.py``).

A 7x7/2 stem with residuals and a pool takes 256x256 to 64x64; each stack is an `Hourglass`
followed by a residual and a 1x1 conv. Every stack predicts (intermediate supervision, sec. 3.4),
and its prediction and features are remapped by 1x1 convs and added back to the next stack's input.
The last stack has no remap convs: no parameter is built that the forward pass does not use.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import ConvNormAct, Hourglass, Residual, make_conv
from zoo.registry import Family, ModelSpec, register, register_family

from .base import Backbone, SizeRule, check_images, he_init


class StackedHourglass(Backbone):
    """``num_stacks`` hourglasses at stride 4.

    Args:
        num_outputs: maps each stack predicts (joints for pose, classes for segmentation); None
            builds no prediction heads, for use as a feature extractor.
        upsample_outputs: resize each prediction to the input size (segmentation).
    Returns (forward): the list of every stack's prediction, last one best.
    """

    headless = {"num_outputs": None}

    def __init__(
        self,
        num_stacks: int = 8,
        channels: int = 256,
        depth: int = 4,
        num_outputs: int | None = 16,
        in_chans: int = 3,
        increase: int = 0,
        norm: str = "batch",
        upsample_outputs: bool = False,
    ) -> None:
        super().__init__()
        self.in_chans, self.depth, self.num_stacks = in_chans, depth, num_stacks
        self.num_outputs, self.upsample_outputs = num_outputs, upsample_outputs
        self.stem = nn.Sequential(
            ConvNormAct(in_chans, 64, 7, stride=2, norm=norm),
            Residual(64, 128, norm),
            nn.MaxPool2d(2, 2),
            Residual(128, 128, norm),
            Residual(128, channels, norm),
        )
        self.stacks = nn.ModuleList(Hourglass(depth, channels, increase, norm) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(channels, channels, norm), ConvNormAct(channels, channels, 1, norm=norm))
            for _ in range(num_stacks)
        )
        self.merge_features = nn.ModuleList(make_conv(channels, channels, 1, bias=True) for _ in range(num_stacks - 1))
        if num_outputs is not None:
            self.outs = nn.ModuleList(make_conv(channels, num_outputs, 1, bias=True) for _ in range(num_stacks))
            self.merge_preds = nn.ModuleList(
                make_conv(num_outputs, channels, 1, bias=True) for _ in range(num_stacks - 1)
            )
        self.feature_info = [dict(num_chs=64, reduction=2, module="stem.0")] + [
            dict(num_chs=channels, reduction=4, module=f"features.{i}") for i in range(num_stacks)
        ]
        he_init(self)

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans, f"StackedHourglass(depth={self.depth})", divisor=4 * 2**self.depth)

    def input_sizes(self) -> SizeRule:
        """Multiples of 4 * 2**depth: the stem's stride 4, then ``depth`` pools that upsample back."""
        step = 4 * 2**self.depth
        return SizeRule(step, 0, step)

    def output_layers(self) -> tuple[str, ...]:
        """The prediction convs and the convs that feed predictions to the next stack (all shaped by
        ``num_outputs``); they stay when pruning, as the later stacks' features depend on them."""
        return ("outs", "merge_preds") if self.num_outputs is not None else ()

    def _stages(self, x: torch.Tensor, preds: list[torch.Tensor] | None = None) -> Iterator[torch.Tensor]:
        """The stem's first map, then each stack's features; appends each stack's prediction to ``preds``."""
        stem_out = self.stem[0](x)
        yield stem_out
        x = self.stem[1:](stem_out)
        for i in range(self.num_stacks):
            feat = self._stage(self._stack, i, x)
            needed = preds is not None or i < self.num_stacks - 1  # asked for, or fed to the next stack
            pred = self.outs[i](feat) if self.num_outputs is not None and needed else None
            if preds is not None:
                preds.append(pred)
            if i < self.num_stacks - 1:
                x = x + self.merge_features[i](feat)
                if pred is not None:
                    x = x + self.merge_preds[i](pred)
            yield feat

    def _stack(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.features[i](self.stacks[i](x))

    def _prune_stages(self, last: int) -> None:
        self.num_stacks = last  # feature map i > 0 is stack i - 1's
        for name in ("stacks", "features", "outs"):
            if hasattr(self, name):
                setattr(self, name, getattr(self, name)[:last])
        for name in ("merge_features", "merge_preds"):
            if hasattr(self, name):
                setattr(self, name, getattr(self, name)[: max(last - 1, 0)])

    def _prune_head(self) -> None:
        """Drop the last stack's prediction conv; the earlier ones feed the next stacks' inputs."""
        if self.num_outputs is not None:
            self.outs = self.outs[:-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.num_outputs is None or len(self.outs) < self.num_stacks:
            raise RuntimeError(
                "This hourglass predicts nothing (built with num_outputs=None, or pruned to a feature extractor); "
                "use forward_features() or forward_intermediates()."
            )
        self.check_input(x)
        preds: list[torch.Tensor] = []
        for _ in self._stages(x, preds):
            pass
        if self.upsample_outputs:
            preds = [F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=False) for p in preds]
        return preds


# --- the paper's configurations ----------------------------------------------------------------------
register_family(
    Family(
        "hourglass",
        heads={"classification": "pooled", "segmentation": "self", "pose": "self"},
        task_kwargs={"segmentation": {"upsample_outputs": True}},  # class maps at the input's size
    )
)


def _register_configurations() -> None:
    """1, 2, 4 and 8 stacks: 256x256 in, heatmaps at 64x64 (sec. 3.2); 8 in the paper's results."""
    for stacks in (1, 2, 4, 8):
        spec = ModelSpec(
            family="hourglass",
            cls=StackedHourglass,
            kwargs=dict(num_stacks=stacks),
            input_size=(3, 256, 256),
            native_task="pose",
            paper="Newell et al. 2016",
        )
        register(f"hourglass{stacks}", spec)


_register_configurations()
