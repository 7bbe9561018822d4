"""Tests for zoo.blocks.unet: DoubleConv, Down, Up (same and valid padding) and fit_to."""

import pytest
import torch
from torch import nn

from zoo.blocks import ConvNormAct, DoubleConv, Down, Up, fit_to


def test_double_conv_same_keeps_size():
    m = DoubleConv(3, 8)
    assert len(m) == 2 and all(isinstance(c, ConvNormAct) for c in m)
    assert isinstance(m[0].norm, nn.BatchNorm2d)
    assert m(torch.randn(2, 3, 13, 10)).shape == (2, 8, 13, 10)


def test_double_conv_valid_loses_four_pixels():
    m = DoubleConv(3, 8, padding="valid")
    assert m(torch.randn(2, 3, 20, 17)).shape == (2, 8, 16, 13)


def test_double_conv_mid_channels_and_no_norm():
    m = DoubleConv(3, 8, mid_chs=5, norm="none")
    assert m[0].conv.out_channels == 5 and m[1].conv.in_channels == 5
    assert isinstance(m[0].norm, nn.Identity) and m[0].conv.bias is not None
    assert (m(torch.randn(1, 3, 8, 8)) >= 0).all()


def test_double_conv_rejects_bad_padding():
    with pytest.raises(ValueError, match="'full'"):
        DoubleConv(3, 8, padding="full")


@pytest.mark.parametrize(("padding", "out_size"), [("same", 8), ("valid", 4)])
def test_down_pools_then_convolves(padding, out_size):
    m = Down(4, 8, padding=padding)
    assert isinstance(m[0], nn.MaxPool2d)
    assert m(torch.randn(2, 4, 16, 16)).shape == (2, 8, out_size, out_size)


@pytest.mark.parametrize("mode", ["transpose", "bilinear"])
def test_up_same_doubles_and_joins_skip(mode):
    m = Up(16, 8, 8, mode=mode)
    if mode == "transpose":
        assert isinstance(m.up, nn.ConvTranspose2d) and m.up.kernel_size == (2, 2)
    else:
        assert isinstance(m.up[0], nn.Upsample) and m.up[1].kernel_size == (1, 1)
    assert m.conv[0].conv.in_channels == 16  # out_chs + skip_chs
    out = m(torch.randn(2, 16, 4, 4), torch.randn(2, 8, 8, 8))
    assert out.shape == (2, 8, 8, 8)


@pytest.mark.parametrize("mode", ["transpose", "bilinear"])
@pytest.mark.parametrize("skip_size", [(9, 9), (7, 8), (9, 7)])
def test_up_same_fits_odd_skip_sizes(mode, skip_size):
    m = Up(16, 8, 8, mode=mode)
    out = m(torch.randn(2, 16, 4, 4), torch.randn(2, 8, *skip_size))
    assert out.shape == (2, 8, *skip_size)


def test_up_valid_crops_the_skip():
    m = Up(16, 8, 8, padding="valid")
    # upsampled 4 -> 8; skip 12 is cropped to 8; the valid DoubleConv takes 8 -> 4
    assert m(torch.randn(2, 16, 4, 4), torch.randn(2, 8, 12, 12)).shape == (2, 8, 4, 4)


def test_up_rejects_bad_mode():
    with pytest.raises(ValueError, match="'nearest'"):
        Up(16, 8, 8, mode="nearest")


def test_fit_to_identity_returns_input():
    x = torch.randn(1, 2, 5, 6)
    assert fit_to(x, (5, 6)) is x


def test_fit_to_centre_crops():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(fit_to(x, (4, 2)), x[..., 1:5, 2:4])
    assert fit_to(x, torch.Size([3, 5])).shape == (1, 1, 3, 5)


def test_fit_to_zero_pads_around():
    x = torch.ones(1, 2, 2, 3)
    out = fit_to(x, (4, 6))
    assert out.shape == (1, 2, 4, 6)
    assert torch.equal(out[..., 1:3, 1:4], x)
    assert out.sum() == x.sum()  # the border is zeros
    odd = fit_to(x, (5, 4))
    assert odd.shape == (1, 2, 5, 4)
    assert odd.sum() == x.sum()


def test_fit_to_crops_one_side_and_pads_the_other():
    x = torch.randn(1, 1, 6, 2)
    out = fit_to(x, (4, 4))
    assert out.shape == (1, 1, 4, 4)
    assert torch.equal(out[..., 1:3], x[..., 1:5, :])
