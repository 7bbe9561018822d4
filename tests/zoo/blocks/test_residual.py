"""Tests for zoo.blocks.residual: BasicBlock, Bottleneck, their shortcuts (options A/B/C), orders,
plain twins, zero-init, residual scaling, dilation, drop-path and norms."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.blocks import BasicBlock, Bottleneck, ResidualBlock, ZeroPadShortcut
from zoo.measure import count_params


def twins(cls, args: tuple, first: dict, second: dict) -> tuple[nn.Module, nn.Module]:
    """Two blocks ``cls(*args)`` with different options and identical weights."""
    a, b = cls(*args, **first), cls(*args, **second)
    b.load_state_dict(a.state_dict())  # strict: the options must not change the parameters
    return a, b


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("order", ["post", "pre"])
@pytest.mark.parametrize(("in_chs", "planes", "stride"), [(8, 8, 1), (8, 16, 2), (4, 8, 1)])
def test_basic_block_shapes(order, in_chs, planes, stride):
    block = BasicBlock(in_chs, planes, stride, order=order)
    assert BasicBlock.expansion == 1
    assert block(torch.randn(2, in_chs, 16, 16)).shape == (2, planes, 16 // stride, 16 // stride)


@pytest.mark.parametrize("order", ["post", "pre"])
@pytest.mark.parametrize(("in_chs", "planes", "stride"), [(16, 4, 1), (8, 4, 2), (16, 8, 2)])
def test_bottleneck_shapes(order, in_chs, planes, stride):
    block = Bottleneck(in_chs, planes, stride, order=order)
    assert Bottleneck.expansion == 4
    assert block(torch.randn(2, in_chs, 16, 16)).shape == (2, 4 * planes, 16 // stride, 16 // stride)
    assert block.conv3.out_channels == 4 * planes


def test_bottleneck_stride_on_3x3_or_on_1x1():
    v15 = Bottleneck(8, 4, 2)
    assert v15.conv1.stride == (1, 1) and v15.conv2.stride == (2, 2)
    v1 = Bottleneck(8, 4, 2, stride_in_1x1=True)
    assert v1.conv1.stride == (2, 2) and v1.conv2.stride == (1, 1)
    x = torch.randn(2, 8, 16, 16)
    assert v1(x).shape == v15(x).shape == (2, 16, 8, 8)


def test_blocks_are_residual_blocks_with_torchvision_names():
    block = Bottleneck(8, 4, 2)
    names = {n for n, _ in block.named_parameters()}
    expected = {"conv1.weight", "bn1.weight", "conv3.weight", "bn3.bias", "downsample.0.weight", "downsample.1.weight"}
    assert expected <= names
    assert isinstance(block, ResidualBlock) and isinstance(BasicBlock(4, 4), ResidualBlock)


# ---------------------------------------------------------------- shortcut options


def test_zero_pad_shortcut_subsamples_and_pads_with_zeros():
    x = torch.randn(2, 4, 8, 8)
    out = ZeroPadShortcut(2, 4)(x)
    assert out.shape == (2, 8, 4, 4)
    assert torch.equal(out[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(out[:, 4:]) == 0
    assert ZeroPadShortcut(1, 0)(x) is x


def test_option_a_has_no_shortcut_parameters_and_zero_pads():
    block = BasicBlock(4, 8, 2, shortcut="A")
    assert isinstance(block.downsample, ZeroPadShortcut)
    assert count_params(block.downsample) == 0
    branch_params = sum(count_params(getattr(block, n)) for n in ("conv1", "bn1", "conv2", "bn2"))
    assert count_params(block) == branch_params
    x = torch.randn(2, 4, 8, 8)
    short = block.downsample(x)
    assert short.shape == (2, 8, 4, 4)
    assert torch.equal(short[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(short[:, 4:]) == 0
    # the block adds it: with a zero branch the padded channels come out exactly 0
    block.zero_init_last()
    out = block(x)
    assert torch.count_nonzero(out[:, 4:]) == 0
    assert torch.allclose(out[:, :4], F.relu(x[:, :, ::2, ::2]))


def test_option_a_is_plain_identity_when_shape_is_kept():
    assert BasicBlock(8, 8, 1, shortcut="A").downsample is None
    assert Bottleneck(16, 4, 1, shortcut="A").downsample is None


def test_option_b_projects_only_where_shape_changes():
    assert BasicBlock(8, 8, 1, shortcut="B").downsample is None
    assert Bottleneck(16, 4, 1, shortcut="B").downsample is None
    for block in (BasicBlock(8, 16, 2, shortcut="B"), BasicBlock(8, 16, 1, shortcut="B"), Bottleneck(8, 4, 1)):
        proj, norm = block.downsample
        assert isinstance(proj, nn.Conv2d) and proj.kernel_size == (1, 1)
        assert isinstance(norm, nn.BatchNorm2d)
    strided = BasicBlock(8, 16, 2, shortcut="B").downsample[0]
    assert strided.stride == (2, 2) and (strided.in_channels, strided.out_channels) == (8, 16)


def test_option_c_projects_everywhere():
    for block, chs in ((BasicBlock(8, 8, 1, shortcut="C"), 8), (Bottleneck(16, 4, 1, shortcut="C"), 16)):
        proj = block.downsample[0]
        assert isinstance(proj, nn.Conv2d) and proj.kernel_size == (1, 1)
        assert (proj.in_channels, proj.out_channels) == (chs, chs)
    assert count_params(BasicBlock(8, 8, shortcut="C")) == count_params(BasicBlock(8, 8, shortcut="B")) + 8 * 8 + 2 * 8


def test_pre_order_projection_has_no_norm_and_sees_bn_relu_input():
    block = BasicBlock(4, 8, 2, order="pre", zero_init_residual=True)
    assert len(block.downsample) == 1 and isinstance(block.downsample[0], nn.Conv2d)
    x = torch.randn(2, 4, 8, 8)
    out = block(x)
    expected = block.downsample(F.relu(block.bn1(x)))
    assert torch.allclose(out, expected, atol=1e-6)


# ---------------------------------------------------------------- pre / post order


def test_post_order_norms_follow_convs_and_output_is_nonnegative():
    block = BasicBlock(4, 8, 2)
    assert block.bn1.num_features == 8
    seen = []
    block.bn1.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape))
    out = block(torch.randn(2, 4, 8, 8))
    assert seen == [torch.Size([2, 8, 4, 4])]  # bn1 sees conv1's output
    assert (out >= 0).all()


@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck])
def test_pre_order_starts_with_bn_on_input_and_can_be_negative(cls):
    block = cls(4, 8, 2, order="pre")
    assert block.bn1.num_features == 4
    seen = []
    block.bn1.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    x = torch.randn(2, 4, 8, 8)
    out = block(x)
    assert len(seen) == 1 and torch.equal(seen[0], x)
    assert (out < 0).any()


def test_post_order_matches_hand_written_forward():
    block = BasicBlock(4, 4).eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 4, 8, 8)
    branch = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
    assert torch.allclose(block(x), F.relu(branch + x), atol=1e-6)


def test_pre_order_matches_hand_written_forward():
    block = BasicBlock(4, 4, order="pre").eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.running_mean.uniform_(-1, 1)
    x = torch.randn(2, 4, 8, 8)
    branch = block.conv2(F.relu(block.bn2(block.conv1(F.relu(block.bn1(x))))))
    assert torch.allclose(block(x), branch + x, atol=1e-6)


# ---------------------------------------------------------------- plain


def test_plain_drops_the_shortcut_even_where_shape_changes():
    assert BasicBlock(4, 8, 2, plain=True).downsample is None
    assert Bottleneck(8, 4, 2, plain=True, shortcut="C").downsample is None
    assert BasicBlock(4, 8, 2, plain=True)(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)
    # a plain block with option A has the parameters of its residual twin
    plain, residual = BasicBlock(4, 8, 2, plain=True, shortcut="A"), BasicBlock(4, 8, 2, shortcut="A")
    assert count_params(plain) == count_params(residual)


@pytest.mark.parametrize("order", ["post", "pre"])
def test_plain_output_differs_from_residual_twin_by_the_identity(order):
    plain, residual = twins(BasicBlock, (4, 4), dict(plain=True, order=order), dict(order=order))
    x = torch.randn(2, 4, 8, 8)
    p, r = plain(x), residual(x)
    assert not torch.allclose(p, r)
    if order == "pre":
        assert torch.allclose(r, p + x, atol=1e-6)
    else:
        assert (p >= 0).all()


# ---------------------------------------------------------------- zero_init_residual


@pytest.mark.parametrize(("cls", "args", "last"), [(BasicBlock, (8, 8), "bn2"), (Bottleneck, (16, 4), "bn3")])
def test_zero_init_residual_post_zeros_last_norm(cls, args, last):
    block = cls(*args, zero_init_residual=True)
    assert torch.count_nonzero(getattr(block, last).weight) == 0
    assert (block.bn1.weight == 1).all()  # only the last norm
    x = torch.randn(2, args[0], 8, 8)
    assert torch.allclose(block(x), F.relu(x))
    assert not torch.allclose(cls(*args)(x), F.relu(x))


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_zero_init_residual_post_with_reshape_equals_relu_of_shortcut(shortcut):
    block = BasicBlock(4, 8, 2, shortcut=shortcut, zero_init_residual=True)
    assert torch.count_nonzero(block.bn2.weight) == 0
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(block(x), F.relu(block.downsample(x)), atol=1e-6)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize(("cls", "args", "last"), [(BasicBlock, (8, 8), "conv2"), (Bottleneck, (16, 4), "conv3")])
def test_zero_init_residual_pre_zeros_last_conv_so_block_is_identity(cls, args, last, norm):
    block = cls(*args, order="pre", norm=norm, zero_init_residual=True)
    assert torch.count_nonzero(getattr(block, last).weight) == 0
    x = torch.randn(2, args[0], 8, 8)
    assert torch.allclose(block(x.clone()), x)


def test_zero_init_residual_post_without_norm_zeros_last_conv():
    block = BasicBlock(8, 8, norm="none", zero_init_residual=True)
    assert torch.count_nonzero(block.conv2.weight) == 0
    x = torch.randn(2, 8, 8, 8)
    assert torch.allclose(block(x.clone()), F.relu(x))


# ---------------------------------------------------------------- residual_scale


@pytest.mark.parametrize("order", ["post", "pre"])
@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_residual_scale_scales_the_sum(order, shortcut):
    s = 1 / math.sqrt(2)
    options = dict(order=order, shortcut=shortcut)
    scaled, unscaled = twins(BasicBlock, (4, 8, 2), dict(residual_scale=s, **options), options)
    x = torch.randn(2, 4, 8, 8)
    a, b = scaled(x), unscaled(x)
    assert torch.allclose(a, s * b, atol=1e-6)
    assert not torch.allclose(a, b)


# ---------------------------------------------------------------- dilation


@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck])
def test_dilation_keeps_size_and_changes_output(cls):
    dilated, undilated = twins(cls, (16, 4 if cls is Bottleneck else 16), dict(dilation=2), dict(dilation=1))
    conv3x3 = dilated.conv2 if cls is Bottleneck else dilated.conv1
    assert conv3x3.dilation == (2, 2) and conv3x3.padding == (2, 2)
    if cls is BasicBlock:
        assert dilated.conv2.dilation == (2, 2)
    x = torch.randn(2, 16, 12, 12)
    out = dilated(x)
    assert out.shape == (2, 16, 12, 12)
    assert undilated(x).shape == out.shape
    assert not torch.allclose(out, undilated(x))


def test_first_dilation_and_stride():
    block = BasicBlock(8, 8, 2, dilation=4, first_dilation=2)
    assert block.conv1.dilation == (2, 2) and block.conv2.dilation == (4, 4)
    assert block(torch.randn(1, 8, 16, 16)).shape == (1, 8, 8, 8)


# ---------------------------------------------------------------- drop_path


def test_drop_path_only_in_training():
    p = 0.5
    options = dict(order="pre", norm="group")
    block, reference = twins(BasicBlock, (4, 4), dict(drop_path=p, **options), options)
    assert isinstance(reference.drop_path, nn.Identity) and not isinstance(block.drop_path, nn.Identity)
    torch.manual_seed(0)
    x = torch.randn(32, 4, 6, 6)
    with torch.no_grad():
        branch = reference(x) - x
        assert torch.allclose(block.eval()(x), reference.eval()(x))  # eval: no drop
        out = block.train()(x)
    dropped = [torch.allclose(out[i], x[i], atol=1e-6) for i in range(len(x))]
    kept = [torch.allclose(out[i], x[i] + branch[i] / (1 - p), atol=1e-5) for i in range(len(x))]
    assert all(d or k for d, k in zip(dropped, kept, strict=True))
    assert any(dropped) and any(kept)


# ---------------------------------------------------------------- norms and bad arguments


def test_norm_choices():
    assert isinstance(BasicBlock(4, 4, norm="batch").bn1, nn.BatchNorm2d)
    group = BasicBlock(32, 32, norm="group")
    assert isinstance(group.bn1, nn.GroupNorm) and isinstance(group.bn2, nn.GroupNorm)
    assert isinstance(BasicBlock(4, 8, 2, norm="group").downsample[1], nn.GroupNorm)
    none = Bottleneck(8, 4, 2, norm="none")
    assert all(isinstance(getattr(none, f"bn{i}"), nn.Identity) for i in (1, 2, 3))
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in none.modules())
    assert none(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)


@pytest.mark.parametrize(
    ("kwargs", "value"), [({"shortcut": "D"}, "'D'"), ({"order": "mid"}, "'mid'"), ({"norm": "layer"}, "'layer'")]
)
@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck])
def test_bad_arguments_raise_value_error_naming_the_value(cls, kwargs, value):
    with pytest.raises(ValueError, match=value):
        cls(8, 8, **kwargs)


@pytest.mark.parametrize("order", ["post", "pre"])
@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_blocks_do_not_modify_their_input(order, norm):
    block = BasicBlock(8, 8, order=order, norm=norm)
    x = torch.randn(2, 8, 8, 8)
    before = x.clone()
    block(x)
    assert torch.equal(x, before)
