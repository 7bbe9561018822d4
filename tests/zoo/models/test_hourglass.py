"""Tests for zoo.models.hourglass: StackedHourglass predictions per stack at stride 4, parameter
counts, no unused parameters, feature_info and input validation."""

import pytest
import torch

import zoo
from zoo.blocks import Hourglass
from zoo.measure import count_params
from zoo.models import StackedHourglass


def test_one_prediction_per_stack_at_stride_4():
    model = StackedHourglass(num_stacks=3, channels=16, depth=2, num_outputs=5)
    preds = model(torch.randn(2, 3, 64, 32))
    assert isinstance(preds, list) and len(preds) == 3
    assert all(p.shape == (2, 5, 16, 8) for p in preds)
    assert not torch.allclose(preds[0], preds[-1])


def test_upsample_outputs_resizes_to_the_input():
    model = StackedHourglass(num_stacks=2, channels=16, depth=2, num_outputs=4, upsample_outputs=True)
    preds = model(torch.randn(1, 3, 48, 64))
    assert [p.shape for p in preds] == [torch.Size([1, 4, 48, 64])] * 2


def test_stacks_and_remaps():
    model = StackedHourglass(num_stacks=4, channels=16, depth=3)
    assert len(model.stacks) == 4 and all(isinstance(s, Hourglass) and s.depth == 3 for s in model.stacks)
    assert len(model.outs) == 4
    # the last stack has no remap convs
    assert len(model.merge_features) == len(model.merge_preds) == 3
    single = StackedHourglass(num_stacks=1, channels=16, depth=1)
    assert len(single.merge_features) == 0 and len(single.merge_preds) == 0


@pytest.mark.parametrize("num_stacks", [1, 3])
def test_every_parameter_gets_a_gradient(num_stacks):
    model = StackedHourglass(num_stacks=num_stacks, channels=16, depth=2, num_outputs=3)
    preds = model(torch.randn(2, 3, 32, 32))
    sum(p.square().mean() for p in preds).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_hourglass8_has_about_25m_parameters():
    with torch.device("meta"):
        count = count_params(zoo.create_model("hourglass8"))
        single = count_params(zoo.create_model("hourglass1"))
    assert round(count / 1e6) == 25
    assert single < count / 6


def test_feature_info_and_intermediates():
    model = StackedHourglass(num_stacks=2, channels=16, depth=2, num_outputs=None)
    assert [(f["num_chs"], f["reduction"]) for f in model.feature_info] == [(64, 2), (16, 4), (16, 4)]
    feats = model.forward_intermediates(torch.randn(1, 3, 32, 32), intermediates_only=True)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 16), (1, 16, 8, 8), (1, 16, 8, 8)]
    assert not hasattr(model, "outs") and not hasattr(model, "merge_preds")
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 16, 8, 8)
    with pytest.raises(RuntimeError, match="num_outputs=None"):
        model(torch.randn(1, 3, 32, 32))


def test_input_not_divisible_names_the_divisor():
    model = zoo.create_model("hourglass1", channels=16)
    calls = []
    model.stem.register_forward_pre_hook(lambda *a: calls.append(1))
    with pytest.raises(ValueError, match="64") as err:
        model(torch.randn(1, 3, 60, 60))
    assert "60x60" in str(err.value)
    assert calls == []
    shallow = StackedHourglass(num_stacks=1, channels=16, depth=2)
    with pytest.raises(ValueError, match="divisible by 16"):
        shallow(torch.randn(1, 3, 40, 48))
    assert shallow(torch.randn(1, 3, 48, 32))[0].shape == (1, 16, 12, 8)


def test_wrong_channels():
    model = StackedHourglass(num_stacks=1, channels=16, depth=1, in_chans=1)
    with pytest.raises(ValueError, match="in_chans=3"):
        model(torch.randn(1, 3, 32, 32))
    assert model(torch.randn(1, 1, 32, 32))[0].shape == (1, 16, 8, 8)
