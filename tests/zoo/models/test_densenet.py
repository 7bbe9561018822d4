"""Tests for zoo.models.densenet: the papers' parameter counts, the CIFAR layouts, feature_info and
the classifier API (torchvision equivalence is in test_torchvision_parity.py)."""

import pytest
import torch
from torch import nn

import zoo
from zoo.blocks import DenseLayer, Transition
from zoo.measure import count_params
from zoo.models import DenseNet


@pytest.mark.parametrize(
    ("name", "millions"),
    [
        ("densenet40_k12", "1.0"),
        ("densenet_bc100_k12", "0.8"),
        ("densenet_bc250_k24", "15.3"),
        ("densenet_bc190_k40", "25.6"),
    ],
)
def test_cifar_parameter_counts_match_the_paper(name, millions):
    with torch.device("meta"):
        count = count_params(zoo.create_model(name))
    decimals = len(millions.partition(".")[2])
    assert round(count / 1e6, decimals) == float(millions), f"{name}: {count:,}"


def test_densenet40_layout():
    with torch.device("meta"):
        model = zoo.create_model("densenet40_k12")
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 36 and not any(layer.bottleneck for layer in layers)  # (40 - 4) / 3 per block
    assert model.features.conv0.kernel_size == (3, 3) and model.features.conv0.out_channels == 16
    assert "pool0" not in dict(model.features.named_children())
    # no compression: 16 + 12 * 12 = 160 -> 160 + 144 = 304 -> 448
    assert [(f["num_chs"], f["reduction"]) for f in model.feature_info] == [(160, 1), (304, 2), (448, 4)]
    assert model.classifier.out_features == 10


def test_densenet_bc100_layout():
    with torch.device("meta"):
        model = zoo.create_model("densenet_bc100_k12")
    layers = [m for m in model.modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 48 and all(layer.bottleneck for layer in layers)  # (100 - 4) / 6 per block
    assert layers[0].conv1.out_channels == 4 * 12
    assert model.features.conv0.out_channels == 24  # 2k
    # theta = 0.5: 24 + 192 = 216 -> 108; 108 + 192 = 300 -> 150; 150 + 192 = 342
    assert [t.conv.out_channels for t in model.modules() if isinstance(t, Transition)] == [108, 150]
    assert model.num_features == 342


def test_densenet_imagenet_feature_info_and_intermediates():
    model = DenseNet(growth_rate=4, block_config=(1, 2, 1, 1), num_init_features=8, num_classes=3)
    # 8 -> 12 -> 6 -> 14 -> 7 -> 11 -> 5 -> 9
    assert [(f["num_chs"], f["reduction"]) for f in model.feature_info] == [(8, 2), (12, 4), (14, 8), (11, 16), (9, 32)]
    assert model.feature_info[0]["module"] == "features.relu0"
    assert model.feature_info[-1]["module"] == "features.norm5"
    feats = model.forward_intermediates(torch.randn(2, 3, 64, 64), intermediates_only=True)
    assert [tuple(f.shape) for f in feats] == [
        (2, 8, 32, 32),
        (2, 12, 16, 16),
        (2, 14, 8, 8),
        (2, 11, 4, 4),
        (2, 9, 2, 2),
    ]
    assert (feats[-1] >= 0).all()  # the final BN-ReLU
    assert (feats[1] < 0).any()  # a dense block's output is not ReLU'd
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_memory_efficient_model_matches_default():
    torch.manual_seed(0)
    default = DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3, stem="cifar")
    efficient = DenseNet(
        growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3, stem="cifar", memory_efficient=True
    )
    efficient.load_state_dict(default.state_dict())
    x = torch.randn(2, 3, 16, 16)
    out_a, out_b = default(x), efficient(x)
    assert torch.allclose(out_a, out_b, atol=1e-6)
    out_a.sum().backward()
    out_b.sum().backward()
    for (name, pa), (_, pb) in zip(default.named_parameters(), efficient.named_parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-5), name


def test_no_bottleneck_and_no_compression_options():
    model = DenseNet(
        growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=0, compression=1.0, stem="cifar", num_classes=2
    )
    assert all(not layer.bottleneck for layer in model.modules() if isinstance(layer, DenseLayer))
    assert model.features.transition1.conv.out_channels == 16
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 2)


def test_classifier_api_uses_torchvision_name():
    model = DenseNet(growth_rate=4, block_config=(1, 1), num_init_features=8, stem="cifar", num_classes=7, in_chans=1)
    assert model.get_classifier() is model.classifier and model.classifier.in_features == model.num_features
    assert not hasattr(model, "fc")
    model.reset_classifier(2)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 2)


def test_group_norm_everywhere():
    model = DenseNet(growth_rate=8, block_config=(1, 1), num_init_features=16, stem="cifar", norm="group")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert isinstance(model.features.norm5, nn.GroupNorm)


def test_bad_stem_and_wrong_channels():
    with pytest.raises(ValueError, match="'tiny'"):
        DenseNet(stem="tiny")
    model = DenseNet(growth_rate=4, block_config=(1, 1), num_init_features=8, stem="cifar")
    with pytest.raises(ValueError, match="in_chans=1"):
        model(torch.randn(2, 1, 8, 8))
