"""Tests for zoo.heads: Classifier, UNetDecoder (and distinct_scales), HeatmapHead and HeatmapModel."""

import pytest
import torch
from torch import nn

from zoo.blocks import BasicBlock
from zoo.heads import Classifier, HeatmapHead, HeatmapModel, UNetDecoder, distinct_scales
from zoo.models import ResNet, StackedHourglass, UNetEncoder


def info(*pairs):
    return [dict(num_chs=c, reduction=r, module=f"m{i}") for i, (c, r) in enumerate(pairs)]


def test_distinct_scales_keeps_the_deepest_feature_per_reduction():
    assert distinct_scales(info((8, 2), (16, 4), (16, 4), (32, 8))) == [0, 2, 3]
    assert distinct_scales(info((64, 2), (16, 4), (16, 4), (16, 4))) == [0, 3]
    assert distinct_scales(info((8, 1), (16, 2))) == [0, 1]


def test_unet_decoder_to_full_resolution():
    feature_info = info((4, 1), (8, 2), (16, 4))
    decoder = UNetDecoder(feature_info)
    assert len(decoder.ups) == 2 and decoder.out_chs == 4 and decoder.reduction == 1
    feats = [torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4)]
    assert decoder(feats).shape == (2, 4, 16, 16)


def test_unet_decoder_stops_at_out_reduction():
    decoder = UNetDecoder(info((4, 1), (8, 2), (16, 4), (32, 8), (64, 16)), out_reduction=4)
    assert len(decoder.ups) == 2 and decoder.reduction == 4 and decoder.out_chs == 16
    feats = [torch.randn(1, c, 32 // r, 32 // r) for c, r in ((4, 1), (8, 2), (16, 4), (32, 8), (64, 16))]
    assert decoder(feats).shape == (1, 16, 8, 8)


def test_unet_decoder_skips_repeated_scales_and_custom_widths():
    decoder = UNetDecoder(info((8, 2), (16, 4), (16, 4), (32, 8)), decoder_channels=[12, 6])
    assert decoder.out_chs == 6 and decoder.reduction == 2
    # of the two features at reduction 4 only the deeper one (index 2) is used: a NaN in the other is ignored
    feats = [
        torch.randn(1, 8, 16, 16),
        torch.full((1, 16, 8, 8), float("nan")),
        torch.randn(1, 16, 8, 8),
        torch.randn(1, 32, 4, 4),
    ]
    out = decoder(feats)
    assert out.shape == (1, 6, 16, 16) and torch.isfinite(out).all()


def test_unet_decoder_goes_on_without_skips_to_full_resolution():
    """smp's last U-Net stage: above the finest feature (a ResNet's stem at stride 2), stages without a
    skip, each half the previous width, reach the input's resolution; no resize is left to do."""
    decoder = UNetDecoder(info((8, 2), (16, 4), (32, 8)), full_resolution=True)
    assert len(decoder.ups) == 3 and decoder.reduction == 1 and decoder.out_chs == 4
    feats = [torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8), torch.randn(1, 32, 4, 4)]
    assert decoder(feats).shape == (1, 4, 32, 32)
    assert UNetDecoder(info((8, 2), (16, 4)), out_reduction=2, full_resolution=True).reduction == 2  # nothing to add
    deep = UNetDecoder(info((64, 32)), out_reduction=4, full_resolution=True)
    assert [up.conv[-1].conv.out_channels for up in deep.ups] == [32, 16, 8] and deep.reduction == 4
    with pytest.raises(ValueError, match="3 entries"):
        UNetDecoder(info((8, 2), (16, 4), (32, 8)), decoder_channels=[16, 8], full_resolution=True)


def test_unet_decoder_errors():
    with pytest.raises(ValueError, match="reduction 4 or above.*full_resolution=True"):
        UNetDecoder(info((64, 32)), out_reduction=4)
    with pytest.raises(ValueError, match="2 entries"):
        UNetDecoder(info((4, 1), (8, 2), (16, 4)), decoder_channels=[4])


@pytest.mark.parametrize(("in_reduction", "num_up"), [(32, 3), (16, 2), (8, 1), (4, 0)])
def test_heatmap_head_upsamples_to_stride_4(in_reduction, num_up):
    head = HeatmapHead(16, 5, in_reduction, width=8)
    deconvs = [m for m in head.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(deconvs) == num_up
    assert all(d.kernel_size == (4, 4) and d.stride == (2, 2) for d in deconvs)
    assert isinstance(head[-1], nn.Conv2d) and head[-1].out_channels == 5 and head[-1].kernel_size == (1, 1)
    out = head(torch.randn(2, 16, 64 // in_reduction, 64 // in_reduction))
    assert out.shape == (2, 5, 16, 16)


@pytest.mark.parametrize("in_reduction", [2, 12])
def test_heatmap_head_rejects_impossible_reductions(in_reduction):
    with pytest.raises(ValueError, match=f"reduction {in_reduction} to 4"):
        HeatmapHead(16, 5, in_reduction)


def test_heatmap_model_on_a_resnet():
    backbone = ResNet(BasicBlock, [1, 1, 1, 1], widths=[4, 4, 8, 8], num_classes=0)
    model = HeatmapModel(backbone, num_joints=7, width=8)
    assert model.in_chans == 3 and model.feature_info is backbone.feature_info
    out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 7, 16, 24)
    out.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_classifier_on_a_unet_encoder():
    encoder = UNetEncoder(1, base_width=4, depth=2)
    model = Classifier(encoder, num_classes=3)
    assert model.in_chans == 1 and model.num_features == 16 and model.fc.in_features == 16
    out = model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 3)
    out.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_classifier_on_an_hourglass_uses_the_last_stack():
    backbone = StackedHourglass(num_stacks=2, channels=16, depth=1, num_outputs=None)
    model = Classifier(backbone, num_classes=4, drop_rate=0.5)
    assert model.drop_rate == 0.5
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    expected = model.fc(backbone.forward_features(x).mean(dim=(2, 3)))
    assert torch.allclose(model(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.randn(2, 3, 20, 20))


def test_the_first_heatmaps_are_near_zero_like_most_target_pixels() -> None:
    torch.manual_seed(0)
    head = HeatmapHead(64, 5, 32, width=32)
    assert float(head[-1].weight.std()) == pytest.approx(HeatmapHead.LAST_STD, rel=0.2)
    heatmaps = head.train()(torch.randn(4, 64, 2, 2))
    assert heatmaps.shape == (4, 5, 16, 16) and float(heatmaps.abs().max()) < 0.02


def test_a_full_resolution_resnet18_unet_is_smps_size_and_needs_no_resize() -> None:
    """`full_resolution` is the registered resnet18 U-Net with smp's fifth, skip-less decoder stage: within
    2% of smp's Unet("resnet18") (14,329,659 parameters), and its class maps come out at the input's size
    from the decoder itself (a bilinear resize of them would not change them)."""
    from zoo import create_model

    net = create_model("resnet18", task="segmentation", num_classes=11, full_resolution=True).eval()
    assert abs(sum(p.numel() for p in net.parameters()) - 14_329_659) <= 0.02 * 14_329_659
    assert net.decoder.reduction == 1 and len(net.decoder.ups) == 5
    with torch.no_grad():
        for size in ((64, 48), (63, 47), (65, 50)):  # sizes the stride-2 stem rounds up come out whole too
            assert net(torch.randn(1, 3, *size)).shape == (1, 11, *size)
