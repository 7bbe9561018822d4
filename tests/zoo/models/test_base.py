"""Tests for zoo.models.base: check_images, he_init, Backbone and ClassifierBackbone."""

import pytest
import torch
from torch import nn

from zoo.models import Backbone, ClassifierBackbone, check_images, he_init


def test_check_images_accepts_a_good_batch():
    check_images(torch.zeros(2, 3, 17, 9), 3, "Net")
    check_images(torch.zeros(1, 1, 64, 128), 1, "Net", divisor=64)


def test_check_images_rejects_non_4d_and_non_tensors():
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)") as err:
        check_images(torch.zeros(3, 8, 8), 3, "Net")
    assert "unsqueeze(0)" in str(err.value) and "Net" in str(err.value)
    with pytest.raises(ValueError, match="ndarray|list"):
        check_images([[0.0]], 3, "Net")


def test_check_images_names_both_channel_counts_and_the_fix():
    with pytest.raises(ValueError) as err:
        check_images(torch.zeros(2, 1, 8, 8), 3, "MyNet")
    msg = str(err.value)
    assert "MyNet" in msg and "3 input channels" in msg and "got 1" in msg and "in_chans=1" in msg


@pytest.mark.parametrize(("size", "fix"), [((60, 60), "64x64"), ((100, 64), "128x64"), ((20, 64), "64x64")])
def test_check_images_divisor_suggests_a_size(size, fix):
    with pytest.raises(ValueError, match=f"divisible by 64; got {size[0]}x{size[1]}") as err:
        check_images(torch.zeros(1, 3, *size), 3, "Net", divisor=64)
    assert fix in str(err.value)


def test_he_init_fan_in_and_fan_out():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 256, 3, bias=True)
    nn.init.constant_(conv.bias, 1.0)
    he_init(conv, mode="fan_in")
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)
    assert (conv.bias == 0).all()
    he_init(conv, mode="fan_out")
    assert conv.weight.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)


def test_he_init_norms_and_transposed_convs():
    model = nn.Sequential(nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.ConvTranspose2d(4, 4, 2, bias=True))
    for m in model:
        nn.init.constant_(m.weight, 3.0)
        nn.init.constant_(m.bias, 3.0)
    he_init(model)
    assert (model[0].weight == 1).all() and (model[0].bias == 0).all()
    assert (model[1].weight == 1).all() and (model[1].bias == 0).all()
    assert not (model[2].weight == 3).any() and (model[2].bias == 0).all()


class Toy(ClassifierBackbone):
    def __init__(self, num_classes=4, drop_rate=0.0):
        super().__init__()
        self.in_chans = 2
        self.a = nn.Conv2d(2, 5, 3, stride=2, padding=1)
        self.b = nn.Conv2d(5, 6, 3, stride=2, padding=1)
        self.feature_info = [dict(num_chs=5, reduction=2, module="a"), dict(num_chs=6, reduction=4, module="b")]
        self._init_classifier(num_classes, drop_rate)

    def _stages(self, x):
        a = self.a(x)
        yield a
        yield self.b(a)


def test_backbone_forward_features_is_the_deepest_feature():
    model = Toy()
    x = torch.randn(2, 2, 16, 16)
    final, intermediates = model.forward_intermediates(x)
    assert torch.equal(model.forward_features(x), intermediates[-1]) and final is intermediates[-1]
    assert model.num_features == 6
    with pytest.raises(NotImplementedError):
        Backbone()._stages(x)


def test_backbone_check_input_uses_the_class_name():
    with pytest.raises(ValueError, match="Toy was built for 2 input channels"):
        Toy()(torch.randn(1, 3, 16, 16))


def test_classifier_backbone_head():
    model = Toy(num_classes=4)
    assert isinstance(model.fc, nn.Linear) and model.get_classifier() is model.fc
    assert (model.fc.in_features, model.fc.out_features) == (6, 4)
    assert (model.fc.bias == 0).all()
    x = torch.randn(2, 2, 16, 16)
    pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    assert torch.allclose(pooled, model.forward_features(x).mean(dim=(2, 3)))
    assert torch.allclose(model(x), model.fc(pooled))


def test_classifier_backbone_reset_and_no_classifier():
    model = Toy()
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(torch.randn(1, 2, 8, 8)).shape == (1, 7)
    model.reset_classifier(0)
    assert isinstance(model.fc, nn.Identity) and model(torch.randn(1, 2, 8, 8)).shape == (1, 6)


def test_classifier_backbone_dropout_only_in_training():
    model = Toy(drop_rate=0.9)
    feats = torch.randn(4, 6, 2, 2)
    model.eval()
    assert torch.equal(model.forward_head(feats, pre_logits=True), feats.mean(dim=(2, 3)))
    model.train()
    torch.manual_seed(0)
    assert (model.forward_head(feats, pre_logits=True) == 0).float().mean() > 0.5
