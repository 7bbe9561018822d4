"""Tests for zoo.blocks.hourglass: the pre-activation Residual and the recursive Hourglass."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import Hourglass, Residual
from zoo.measure import count_params


def test_residual_without_skip_conv_when_channels_equal():
    r = Residual(16, 16)
    assert r.downsample is None
    assert not any(
        isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.in_channels == m.out_channels == 16
        for m in r.modules()
    )
    convs = 16 * 8 + 8 * 8 * 9 + 8 * 16
    norms = 2 * (16 + 8 + 8)
    assert count_params(r) == convs + norms


def test_residual_with_one_1x1_skip_when_channels_differ():
    r = Residual(8, 16)
    assert len(r.downsample) == 1
    skip = r.downsample[0]
    assert isinstance(skip, nn.Conv2d) and skip.kernel_size == (1, 1)
    assert (skip.in_channels, skip.out_channels, skip.stride) == (8, 16, (1, 1))
    convs = count_params(r.conv1) + count_params(r.conv2) + count_params(r.conv3)
    assert count_params(r) == convs + 2 * (8 + 8 + 8) + 8 * 16


def test_residual_is_a_pre_activation_bottleneck():
    r = Residual(8, 16)
    assert r.order == "pre"
    assert r.bn1.num_features == 8 and r.bn3.num_features == 8
    assert (r.conv1.kernel_size, r.conv2.kernel_size, r.conv3.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert (r.conv1.out_channels, r.conv2.out_channels, r.conv3.out_channels) == (8, 8, 16)
    out = r(torch.randn(2, 8, 8, 8))
    assert out.shape == (2, 16, 8, 8)
    assert (out < 0).any()


def test_residual_adds_its_input():
    r = Residual(8, 8)
    nn.init.zeros_(r.conv3.weight)
    x = torch.randn(2, 8, 6, 6)
    assert torch.allclose(r(x), x)


@pytest.mark.parametrize(("depth", "size"), [(1, 8), (2, 8), (3, 16), (4, 16)])
def test_hourglass_keeps_size(depth, size):
    hg = Hourglass(depth, 8)
    x = torch.randn(2, 8, size, 2 * size)
    assert hg(x).shape == x.shape


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_hourglass_recursion_depth(depth):
    hg = Hourglass(depth, 8)
    levels = [m for m in hg.modules() if isinstance(m, Hourglass)]
    assert len(levels) == depth
    assert [lv.depth for lv in levels] == list(range(depth, 0, -1))
    assert isinstance(levels[-1].low2, Residual)
    # per level: up1, low1, low3; plus the bottom residual
    assert sum(isinstance(m, Residual) for m in hg.modules()) == 3 * depth + 1


def test_hourglass_increase_widens_lower_branch():
    hg = Hourglass(2, 8, increase=4)
    assert hg.low1.conv3.out_channels == 12
    assert hg.low2.low1.conv3.out_channels == 16
    assert hg.low3.conv3.out_channels == 8
    x = torch.randn(1, 8, 8, 8)
    assert hg(x).shape == x.shape


def test_hourglass_forward_is_up_branch_plus_upsampled_low_branch():
    hg = Hourglass(2, 8).eval()
    x = torch.randn(2, 8, 8, 8)
    low = hg.low3(hg.low2(hg.low1(F.max_pool2d(x, 2))))
    expected = hg.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")
    assert torch.allclose(hg(x), expected, atol=1e-6)


def test_hourglass_uses_every_parameter():
    hg = Hourglass(3, 8, increase=4)
    hg(torch.randn(2, 8, 16, 16)).square().sum().backward()
    missing = [n for n, p in hg.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("norm", ["group", "none"])
def test_hourglass_norm_choice(norm):
    hg = Hourglass(2, 8, norm=norm)
    expected = nn.GroupNorm if norm == "group" else nn.Identity
    assert isinstance(hg.up1.bn1, expected)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in hg.modules())
    x = torch.randn(2, 8, 8, 8)
    before = x.clone()
    assert hg(x).shape == x.shape
    assert torch.equal(x, before)
