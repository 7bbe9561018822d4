"""Tests for zoo.models.resnet: the papers' parameter counts, layouts, feature_info, dilation,
pre-activation, drop-path and input validation (torchvision equivalence is in test_torchvision_parity.py)."""

import pytest
import torch
from torch import nn

import zoo
from zoo.blocks import BasicBlock, Bottleneck, ZeroPadShortcut
from zoo.measure import count_params
from zoo.models import ResNet


def meta_params(name: str, **overrides) -> int:
    with torch.device("meta"):
        return count_params(zoo.create_model(name, **overrides))


# ---------------------------------------------------------------- ResNet-200, which torchvision does not have


def test_resnet200_parameter_count():
    assert round(meta_params("resnet200") / 1e6, 1) == 64.7


# ---------------------------------------------------------------- CIFAR layouts, the papers' counts


def paper_round(count: int, millions: str) -> bool:
    decimals = len(millions.partition(".")[2])
    return round(count / 1e6, decimals) == float(millions)


CIFAR = [
    ("resnet20", "0.27"),
    ("resnet32", "0.46"),
    ("resnet44", "0.66"),
    ("resnet56", "0.85"),
    ("resnet110", "1.7"),
    ("resnet1202", "19.4"),
    ("preact_resnet110", "1.7"),
    ("preact_resnet164", "1.7"),
]


@pytest.mark.parametrize(("name", "millions"), CIFAR)
def test_cifar_parameter_counts_match_the_papers(name, millions):
    count = meta_params(name)
    assert paper_round(count, millions), f"{name}: {count:,} params, the paper says {millions}M"


def preact_bottleneck_cifar_count(n: int, num_classes: int = 10) -> int:
    """The parameters of KaimingHe/resnet-1k-layers' resnet-pre-act.lua (no conv biases), by hand."""
    total = 3 * 16 * 9  # stem
    in_chs = 16
    for out_chs in (64, 128, 256):
        mid = out_chs // 4
        for i in range(n):
            c_in = in_chs if i == 0 else out_chs
            convs = c_in * mid + mid * mid * 9 + mid * out_chs
            norms = 2 * (c_in + mid + mid)
            proj = c_in * out_chs if i == 0 else 0
            total += convs + norms + proj
        in_chs = out_chs
    return total + 2 * 256 + 256 * num_classes + num_classes  # final BN, linear


def test_preact_resnet1001_matches_the_released_architecture():
    # He et al. 2016 report 10.2M: that is the count without the BatchNorm parameters; with them,
    # the released 1001-layer net (n = 111 bottlenecks per stage) has 10.33M.
    with torch.device("meta"):
        model = zoo.create_model("preact_resnet1001")
    count = count_params(model)
    assert count == preact_bottleneck_cifar_count(111)
    bn = sum(count_params(m) for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert paper_round(count - bn, "10.2")
    assert meta_params("preact_resnet164") == preact_bottleneck_cifar_count(18)


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_plain_nets_have_the_parameters_of_their_option_a_twins(depth):
    with torch.device("meta"):
        plain = zoo.create_model(f"plain{depth}")
    assert count_params(plain) == meta_params(f"resnet{depth}")
    assert all(m.downsample is None for m in plain.modules() if isinstance(m, BasicBlock))


def test_cifar_resnet_layout():
    model = zoo.create_model("resnet20")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.conv1.out_channels == 16
    assert isinstance(model.maxpool, nn.Identity)
    assert not hasattr(model, "layer4")
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9  # 6n + 2 = 20 layers
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 20  # no projection convs with option A, plus the fc
    assert sum(isinstance(m, ZeroPadShortcut) for m in model.modules()) == 2
    assert model.fc.out_features == 10
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_preact_cifar_layout():
    model = zoo.create_model("preact_resnet164")
    assert isinstance(model.bn1, nn.Identity) and isinstance(model.relu, nn.Identity)  # a bare conv stem
    assert isinstance(model.final_norm, nn.BatchNorm2d) and model.final_norm.num_features == 256
    assert all(b.order == "pre" for b in model.modules() if isinstance(b, Bottleneck))
    assert zoo.create_model("resnet20").final_norm is None


# ---------------------------------------------------------------- features, options


def tiny(block=BasicBlock, layers=(1, 1, 1, 1), **kwargs) -> ResNet:
    return ResNet(block, list(layers), widths=[8, 8, 16, 16][: len(layers)], num_classes=5, **kwargs)


def test_feature_info_matches_forward_intermediates_imagenet():
    model = tiny(Bottleneck)
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert [f["num_chs"] for f in model.feature_info] == [8, 32, 32, 64, 64]
    assert [f["module"] for f in model.feature_info] == ["relu", "layer1", "layer2", "layer3", "layer4"]
    feats = model.forward_intermediates(torch.randn(2, 3, 64, 64), intermediates_only=True)
    assert [tuple(f.shape) for f in feats] == [
        (2, c, 64 // r, 64 // r) for c, r in ((f["num_chs"], f["reduction"]) for f in model.feature_info)
    ]
    assert model.num_features == 64
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 64, 2, 2)


def test_feature_info_cifar():
    model = ResNet(BasicBlock, [1, 1, 1], stem="cifar", shortcut="A", num_classes=10)
    assert [(f["num_chs"], f["reduction"]) for f in model.feature_info] == [(16, 1), (32, 2), (64, 4)]
    feats = model.forward_intermediates(torch.randn(2, 3, 32, 32), intermediates_only=True)
    assert [tuple(f.shape) for f in feats] == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]


def test_replace_stride_with_dilation_works_for_basic_blocks():
    model = tiny(replace_stride_with_dilation=[False, True, True])
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 8, 8]
    assert model.layer4[0].conv1.dilation == (2, 2) and model.layer4[0].conv2.dilation == (4, 4)
    assert model.layer4[0].conv1.stride == (1, 1)
    feats = model.forward_intermediates(torch.randn(1, 3, 64, 64), intermediates_only=True)
    assert feats[-1].shape == (1, 16, 8, 8)


def test_stride_in_1x1_moves_the_stride():
    v1 = tiny(Bottleneck, stride_in_1x1=True)
    v15 = tiny(Bottleneck)
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert count_params(v1) == count_params(v15)


def test_drop_path_rises_linearly_over_blocks():
    model = tiny(layers=(2, 2, 2, 2), drop_path_rate=0.35)
    rates = [
        0.0 if isinstance(b.drop_path, nn.Identity) else b.drop_path.drop_prob
        for b in model.modules()
        if isinstance(b, BasicBlock)
    ]
    assert rates == pytest.approx([0.35 * i / 7 for i in range(8)])


def test_zero_init_residual_survives_weight_init():
    model = tiny(Bottleneck, zero_init_residual=True)
    blocks = [b for b in model.modules() if isinstance(b, Bottleneck)]
    assert all(torch.count_nonzero(b.bn3.weight) == 0 for b in blocks)
    assert all((b.bn1.weight == 1).all() for b in blocks)
    pre = tiny(order="pre", zero_init_residual=True)
    assert all(torch.count_nonzero(b.conv2.weight) == 0 for b in pre.modules() if isinstance(b, BasicBlock))
    # without zero-init, he_init has drawn the weights
    assert all((b.bn3.weight == 1).all() for b in tiny(Bottleneck).modules() if isinstance(b, Bottleneck))


def test_he_init_fan_out():
    model = tiny(layers=(1, 1, 1, 1))
    w = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10).layer4[0].conv2.weight  # 512 x 512 x 3 x 3
    assert w.std().item() == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.05)
    assert (model.bn1.weight == 1).all() and (model.bn1.bias == 0).all()
    assert (model.fc.bias == 0).all()


def test_options_reach_every_block():
    model = tiny(Bottleneck, shortcut="C", order="pre", norm="group", residual_scale=0.5, plain=False)
    blocks = [b for b in model.modules() if isinstance(b, Bottleneck)]
    assert all(b.order == "pre" and b.residual_scale == 0.5 for b in blocks)
    assert all(isinstance(b.downsample, nn.Sequential) for b in blocks)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)


def test_in_chans_and_classifier_api():
    model = tiny(in_chans=1)
    assert model.conv1.in_channels == 1
    x = torch.randn(2, 1, 64, 64)
    assert model(x).shape == (2, 5)
    assert model.get_classifier() is model.fc
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 16)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    model.reset_classifier(0)
    assert isinstance(model.fc, nn.Identity) and model(x).shape == (2, 16)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_in_chans_override_changes_only_the_stem(name):
    with torch.device("meta"):
        rgb, gray = zoo.create_model(name), zoo.create_model(name, in_chans=1)
    assert count_params(rgb) - count_params(gray) == 2 * 64 * 7 * 7


# ---------------------------------------------------------------- input validation


def test_wrong_channels_raise_before_any_computation():
    with torch.device("meta"):
        model = zoo.create_model("resnet152")
    calls = []
    model.conv1.register_forward_pre_hook(lambda *a: calls.append(1))
    with pytest.raises(ValueError, match="in_chans") as err:
        model(torch.zeros(1, 4, 224, 224))  # a CPU batch: reaching the meta conv would fail differently
    msg = str(err.value)
    assert "3 input channels" in msg and "got 4" in msg and "in_chans=4" in msg
    assert calls == []


def test_missing_batch_dimension_is_explained():
    with pytest.raises(ValueError, match="unsqueeze"):
        tiny()(torch.randn(3, 32, 32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stem": "tiny"}, "'tiny'"),
        ({"widths": [8, 16]}, "widths"),
        ({"replace_stride_with_dilation": [True]}, "replace_stride"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(BasicBlock, [1, 1, 1, 1], **kwargs)
