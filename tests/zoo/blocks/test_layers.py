"""Tests for zoo.blocks.layers: the conv, norm, activation and up-conv factories and ConvNormAct."""

import pytest
import torch
from torch import nn

from zoo.blocks import ConvNormAct, DropPath, make_act, make_conv, make_norm, make_upconv


def test_make_norm_kinds():
    assert isinstance(make_norm("batch", 8), nn.BatchNorm2d)
    assert make_norm("batch", 8).num_features == 8
    group = make_norm("group", 64)
    assert isinstance(group, nn.GroupNorm)
    assert (group.num_groups, group.num_channels) == (32, 64)
    assert isinstance(make_norm("none", 8), nn.Identity)


@pytest.mark.parametrize(("channels", "groups"), [(48, 16), (24, 8), (12, 4), (6, 2), (7, 1)])
def test_group_norm_falls_back_to_a_divisor(channels, groups):
    norm = make_norm("group", channels)
    assert norm.num_groups == groups
    assert channels % norm.num_groups == 0


def test_make_norm_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'layer'") as err:
        make_norm("layer", 8)
    assert "batch" in str(err.value) and "group" in str(err.value)


def test_make_act():
    act = make_act("relu")
    assert isinstance(act, nn.ReLU)
    assert isinstance(make_act("none"), nn.Identity)
    with pytest.raises(ValueError, match="'gelu'"):
        make_act("gelu")


@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (3, 1), (3, 2), (5, 1), (7, 1), (3, 4)])
def test_make_conv_default_padding_keeps_size(kernel, dilation):
    conv = make_conv(3, 5, kernel, dilation=dilation)
    assert conv.bias is None
    assert conv(torch.randn(2, 3, 17, 16)).shape == (2, 5, 17, 16)


def test_make_conv_stride_bias_groups_padding():
    conv = make_conv(4, 8, 3, stride=2, groups=2, bias=True)
    assert conv.bias is not None and conv.groups == 2
    assert conv(torch.randn(1, 4, 16, 15)).shape == (1, 8, 8, 8)
    valid = make_conv(4, 8, 3, padding=0)
    assert valid(torch.randn(1, 4, 16, 16)).shape == (1, 8, 14, 14)


@pytest.mark.parametrize(("kernel", "stride"), [(2, 2), (4, 2), (3, 3)])
def test_make_upconv_multiplies_size_by_stride(kernel, stride):
    up = make_upconv(4, 6, kernel, stride)
    assert isinstance(up, nn.ConvTranspose2d)
    assert up(torch.randn(1, 4, 5, 7)).shape == (1, 6, 5 * stride, 7 * stride)


def test_conv_norm_act_post_order():
    m = ConvNormAct(3, 8, 3)
    assert [type(c) for c in m] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert m.norm.num_features == 8
    assert m.conv.bias is None  # no bias next to a norm
    y = m(torch.randn(2, 3, 12, 12))
    assert y.shape == (2, 8, 12, 12)
    assert (y >= 0).all()


def test_conv_norm_act_pre_order():
    m = ConvNormAct(3, 8, 3, order="pre")
    assert [type(c) for c in m] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d]
    assert m.norm.num_features == 3  # the norm sees the input channels
    y = m(torch.randn(2, 3, 12, 12))
    assert y.shape == (2, 8, 12, 12)
    assert (y < 0).any()  # ends with a conv, so it can be negative


def test_conv_norm_act_no_norm_has_bias_and_no_act_can_be_negative():
    m = ConvNormAct(3, 4, 1, norm="none", act="none")
    assert isinstance(m.norm, nn.Identity) and isinstance(m.act, nn.Identity)
    assert m.conv.bias is not None
    assert (m(torch.randn(2, 3, 6, 6)) < 0).any()


def test_conv_norm_act_group_norm_and_stride_dilation():
    m = ConvNormAct(4, 32, 3, stride=2, dilation=2, norm="group")
    assert isinstance(m.norm, nn.GroupNorm)
    assert m.conv.dilation == (2, 2)
    assert m(torch.randn(2, 4, 16, 16)).shape == (2, 32, 8, 8)


def test_conv_norm_act_transposed_upsamples():
    m = ConvNormAct(8, 4, 4, stride=2, transposed=True)
    assert isinstance(m.conv, nn.ConvTranspose2d)
    assert m(torch.randn(1, 8, 5, 6)).shape == (1, 4, 10, 12)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("order", ["post", "pre"])
def test_conv_norm_act_does_not_modify_its_input(order, norm):
    # an in-place ReLU straight after an Identity norm would overwrite the caller's tensor
    m = ConvNormAct(4, 4, 3, order=order, norm=norm)
    x = torch.randn(2, 4, 8, 8)
    before = x.clone()
    m(x)
    assert torch.equal(x, before)


def test_conv_norm_act_rejects_bad_order():
    with pytest.raises(ValueError, match="'mid'"):
        ConvNormAct(3, 8, order="mid")
    with pytest.raises(ValueError, match="'layer'"):
        ConvNormAct(3, 8, norm="layer")


def test_drop_path_draws_as_timms():
    import timm.layers

    x = torch.randn(16, 4, 3, 3)
    ours, timms = DropPath(0.3).train(), timm.layers.DropPath(0.3).train()
    torch.manual_seed(1)
    dropped = ours(x)
    torch.manual_seed(1)
    assert torch.equal(dropped, timms(x)) and (dropped.flatten(1) == 0).all(1).any()
    assert torch.equal(ours.eval()(x), x)
    with pytest.raises(ValueError, match="drop_path=1.0"):
        DropPath(1.0)
