"""Tests for zoo.models.unet: the paper's valid U-Net (572 -> 388, ~31.0M), the same-padding U-Net
on any size, U-Nets on zoo backbones, and the valid-size arithmetic and its error messages."""

import pytest
import torch
from torch import nn

import zoo
from zoo.heads import UNet
from zoo.measure import count_params
from zoo.models import UNetEncoder, nearest_valid_sizes, valid_output_size


def test_paper_unet_parameter_count_and_structure():
    with torch.device("meta"):
        model = zoo.create_model("unet")
    assert round(count_params(model) / 1e6, 1) == 31.0
    assert [f["num_chs"] for f in model.feature_info] == [64, 128, 256, 512, 1024]
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert all(c.padding == (0, 0) for c in convs if c.kernel_size == (3, 3))
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == 4 and all(u.kernel_size == (2, 2) and u.stride == (2, 2) for u in ups)
    assert model.head.out_channels == 2 and model.in_chans == 1


def test_paper_unet_maps_572_to_388():
    with torch.device("meta"):
        model = zoo.create_model("unet")
        out = model(torch.empty(1, 1, 572, 572, device="meta"))
    assert out.shape == (1, 2, 388, 388)


@pytest.mark.parametrize(
    ("size", "depth", "out"),
    [(572, 4, 388), (556, 4, 372), (188, 4, 4), (570, 4, None), (187, 4, None), (92, 3, 4), (60, 2, 20), (20, 1, 4)],
)
def test_valid_output_size(size, depth, out):
    assert valid_output_size(size, depth) == out


def test_nearest_valid_sizes():
    assert nearest_valid_sizes(570, 4) == (556, 572)
    assert nearest_valid_sizes(572, 4)[0] == 572
    below, above = nearest_valid_sizes(300, 3)
    assert valid_output_size(below, 3) and valid_output_size(above, 3)
    assert not any(valid_output_size(s, 3) for s in range(below + 1, above))


def test_valid_unet_real_forward_matches_the_arithmetic():
    model = UNet(
        UNetEncoder(1, base_width=2, depth=2, padding="valid", norm="none"), num_classes=3, padding="valid", norm="none"
    )
    assert model(torch.randn(1, 1, 60, 44)).shape == (1, 3, valid_output_size(60, 2), valid_output_size(44, 2))


def test_valid_unet_names_the_nearest_valid_sizes():
    model = zoo.create_model("unet", base_width=2)
    calls = []
    model.encoder.inc.register_forward_pre_hook(lambda *a: calls.append(1))
    with pytest.raises(ValueError, match="572") as err:
        model(torch.zeros(1, 1, 570, 572))
    assert "570" in str(err.value) and "556" in str(err.value) and "padding='same'" in str(err.value)
    assert calls == []


@pytest.mark.parametrize("side", [64, 50])
def test_valid_unet_on_a_too_small_input_names_the_smallest_valid_size(side):
    # the smallest side a depth-4 valid U-Net takes is 188; smaller sides have no valid size below them
    model = zoo.create_model("unet", base_width=2)
    with pytest.raises(ValueError, match="188") as err:
        model(torch.zeros(1, 1, side, side))
    assert "None" not in str(err.value)


@pytest.mark.parametrize("up_mode", ["transpose", "bilinear"])
@pytest.mark.parametrize("size", [(37, 41), (32, 32), (17, 64)])
def test_same_unet_returns_the_input_size(up_mode, size):
    model = zoo.create_model("unet_same", base_width=4, up_mode=up_mode, num_classes=3)
    out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 3, *size)


def test_same_unet_structure_and_features():
    model = zoo.create_model("unet_same", base_width=4)
    assert isinstance(model.encoder.inc[0].norm, nn.BatchNorm2d)
    assert [(f["num_chs"], f["reduction"]) for f in model.feature_info] == [(4, 1), (8, 2), (16, 4), (32, 8), (64, 16)]
    feats = model.forward_intermediates(torch.randn(1, 3, 32, 32), intermediates_only=True)
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 32, 32), (8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2)]
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 2, 2)


def test_unet_encoder_depth():
    encoder = UNetEncoder(3, base_width=4, depth=2)
    assert len(encoder.downs) == 2 and encoder.feature_info[-1]["num_chs"] == 16
    model = UNet(encoder, num_classes=5)
    assert model(torch.randn(2, 3, 13, 11)).shape == (2, 5, 13, 11)


def test_decoder_channels_option():
    model = UNet(UNetEncoder(3, base_width=4, depth=2), num_classes=2, decoder_channels=[6, 5])
    assert [up.conv[1].conv.out_channels for up in model.decoder.ups] == [6, 5]
    assert model.head.in_channels == 5
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 2, 16, 16)
    with pytest.raises(ValueError, match="decoder_channels"):
        UNet(UNetEncoder(3, base_width=4, depth=2), decoder_channels=[6])


@pytest.mark.parametrize("name", ["unet_resnet18", "unet_resnet34"])
def test_unet_on_resnet_fits_sizes_not_divisible_by_32(name):
    model = zoo.create_model(name, widths=[4, 4, 8, 8], num_classes=3)
    out = model(torch.randn(1, 3, 45, 37))
    assert out.shape == (1, 3, 45, 37)


def test_unet_on_cifar_resnet_keeps_full_resolution():
    model = zoo.create_model("unet_resnet20", num_classes=4)
    assert model.decoder.reduction == 1
    assert model(torch.randn(2, 3, 20, 28)).shape == (2, 4, 20, 28)


def test_unet_checks_channels_with_its_name():
    model = zoo.create_model("unet_same", base_width=2)
    with pytest.raises(ValueError, match="UNet") as err:
        model(torch.randn(1, 1, 16, 16))
    assert "in_chans=1" in str(err.value)
