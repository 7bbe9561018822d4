"""The U-Net expanding path as a head for any backbone (Ronneberger et al. 2015, sec. 2): `UNetDecoder`,
and `UNet`, an encoder with the decoder and a 1x1 conv to class maps, so ``UNet(resnet34)`` is what
segmentation_models_pytorch calls a Unet with a ResNet-34 encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import Up, make_conv
from zoo.models.base import Backbone, HeadOnBackbone, he_init


def distinct_scales(feature_info: list[dict]) -> list[int]:
    """Indices of the deepest feature at each reduction, so a decoder upsamples x2 per skip."""
    last = {info["reduction"]: i for i, info in enumerate(feature_info)}
    return sorted(last.values())


class UNetDecoder(nn.Module):
    """The expanding path on any encoder's features: from the deepest feature, one `Up` per
    shallower scale until ``out_reduction`` (1 for segmentation, 4 for heatmaps at stride 4).
    Each Up's width is its skip's width unless ``decoder_channels`` says otherwise.

    With ``full_resolution``, skip-less `Up` stages (each half the previous width) go on from the
    finest feature to ``out_reduction`` where the encoder has none that fine, as
    segmentation_models_pytorch's U-Net does above a ResNet's stride-2 stem; without it the decoder
    stops at the finest feature and `UNet` resizes its class maps bilinearly.
    """

    def __init__(
        self,
        feature_info: list[dict],
        decoder_channels: list[int] | None = None,
        up_mode: str = "transpose",
        padding: str = "same",
        norm: str = "batch",
        out_reduction: int = 1,
        full_resolution: bool = False,
    ) -> None:
        super().__init__()
        self.taps = distinct_scales(feature_info)
        infos = [feature_info[i] for i in self.taps]
        skips = [info for info in reversed(infos[:-1]) if info["reduction"] >= out_reduction]
        if not skips and infos[-1]["reduction"] > out_reduction and not full_resolution:
            raise ValueError(
                f"The encoder has no feature at reduction {out_reduction} or above to decode to; "
                "full_resolution=True adds decoder stages without skips up to it."
            )
        self.reduction = skips[-1]["reduction"] if skips else infos[-1]["reduction"]
        extra = 0
        while full_resolution and self.reduction > out_reduction:
            self.reduction, extra = self.reduction // 2, extra + 1
        default_widths = [s["num_chs"] for s in skips]
        for _ in range(extra):
            default_widths.append(max(default_widths[-1] if default_widths else infos[-1]["num_chs"], 2) // 2)
        widths = list(decoder_channels or default_widths)
        if len(widths) != len(default_widths):
            raise ValueError(
                f"decoder_channels needs {len(default_widths)} entries (one per decoder stage); got {widths}."
            )
        in_chs, self.ups = infos[-1]["num_chs"], nn.ModuleList()
        skip_chs = [s["num_chs"] for s in skips] + [0] * extra
        for chs, width in zip(skip_chs, widths, strict=True):
            self.ups.append(Up(in_chs, chs, width, up_mode, padding, norm))
            in_chs = width
        self.out_chs, self.num_skips = in_chs, len(skips)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        feats = [features[i] for i in self.taps]
        x, skips = feats[-1], feats[-2::-1][: self.num_skips]
        for index, up in enumerate(self.ups):
            x = up(x, skips[index] if index < self.num_skips else None)
        return x


class UNet(HeadOnBackbone):
    """Encoder, decoder and a 1x1 conv to ``num_classes`` maps.

    With the paper's valid padding the output is smaller than the input (572 -> 388); otherwise
    the output is at ``out_reduction`` of the input (1: the input's size, resized bilinearly when
    the encoder's shallowest feature is coarser, as with a ResNet's stride-2 stem, unless
    ``full_resolution`` adds decoder stages up to it; see `UNetDecoder`).
    """

    trunk_name = "encoder"

    def __init__(
        self,
        encoder: Backbone,
        num_classes: int = 2,
        decoder_channels: list[int] | None = None,
        up_mode: str = "transpose",
        padding: str = "same",
        norm: str = "batch",
        out_reduction: int = 1,
        full_resolution: bool = False,
    ) -> None:
        super().__init__()
        self.encoder, self.num_classes, self.out_reduction = encoder, num_classes, out_reduction
        self.decoder = UNetDecoder(
            encoder.feature_info, decoder_channels, up_mode, padding, norm, out_reduction, full_resolution
        )
        self.head = make_conv(self.decoder.out_chs, num_classes, 1, bias=True)
        self.valid = padding == "valid"
        he_init(self.decoder)

    def output_layers(self) -> tuple[str, ...]:
        return ("head",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.decoder(self.forward_intermediates(x, intermediates_only=True)))
        if self.valid:
            return out
        size = [-(-s // self.out_reduction) for s in x.shape[-2:]]
        if self.decoder.reduction != self.out_reduction:
            return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        if self.decoder.num_skips < len(self.decoder.ups):
            # skip-less stages double the stem's rounded-up size (63 -> 32 -> 64): trim the bottom and
            # right, the side the strided convs rounded up on (F.pad by a negative amount crops; unlike a
            # slice, it puts no guard on the input size in an exported graph)
            return F.pad(out, (0, size[1] - out.shape[-1], 0, size[0] - out.shape[-2]))
        return out
