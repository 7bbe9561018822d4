"""The U-Net expanding path as a head for any backbone (Ronneberger et al. 2015, sec. 2)."""

from __future__ import annotations

import torch
from torch import nn

from zoo.blocks import Up


def distinct_scales(feature_info: list[dict]) -> list[int]:
    """Indices of the deepest feature at each reduction, so a decoder upsamples x2 per skip."""
    last = {info["reduction"]: i for i, info in enumerate(feature_info)}
    return sorted(last.values())


class UNetDecoder(nn.Module):
    """The expanding path on any encoder's features: from the deepest feature, one `Up` per
    shallower scale until ``out_reduction`` (1 for segmentation, 4 for heatmaps at stride 4).
    Each Up's width is its skip's width unless ``decoder_channels`` says otherwise."""

    def __init__(
        self,
        feature_info: list[dict],
        decoder_channels: list[int] | None = None,
        up_mode: str = "transpose",
        padding: str = "same",
        norm: str = "batch",
        out_reduction: int = 1,
    ) -> None:
        super().__init__()
        self.taps = distinct_scales(feature_info)
        infos = [feature_info[i] for i in self.taps]
        skips = [info for info in reversed(infos[:-1]) if info["reduction"] >= out_reduction]
        if not skips and infos[-1]["reduction"] > out_reduction:
            raise ValueError(f"The encoder has no feature at reduction {out_reduction} or above to decode to.")
        widths = list(decoder_channels or [s["num_chs"] for s in skips])
        if len(widths) != len(skips):
            raise ValueError(f"decoder_channels needs {len(skips)} entries (one per decoder stage); got {widths}.")
        in_chs, self.ups = infos[-1]["num_chs"], nn.ModuleList()
        for skip, width in zip(skips, widths, strict=True):
            self.ups.append(Up(in_chs, skip["num_chs"], width, up_mode, padding, norm))
            in_chs = width
        self.out_chs = in_chs
        self.reduction = skips[-1]["reduction"] if skips else infos[-1]["reduction"]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        feats = [features[i] for i in self.taps]
        x, skips = feats[-1], feats[-2::-1]
        for up, skip in zip(self.ups, skips, strict=False):
            x = up(x, skip)
        return x
