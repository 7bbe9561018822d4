"""Tests for zoo.measure: count_params and count_gflops."""

import pytest
import torch
from torch import nn

import zoo
from zoo.measure import count_gflops, count_params


def test_count_params_counts_every_parameter_but_no_buffer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
    model[2].weight.requires_grad_(False)  # frozen parameters count too
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    assert count_params(model) == (3 * 8 * 9 + 8) + 2 * 8 + (8 * 2 + 2)


def test_count_params_shared_parameter_once():
    linear = nn.Linear(4, 4)
    model = nn.Sequential(linear, linear)
    assert count_params(model) == 4 * 4 + 4


@pytest.mark.parametrize("batch_size", [1, 3])
def test_count_gflops_of_a_conv_is_twice_its_macs(batch_size):
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    macs = 8 * 16 * 16 * 3 * 3 * 3  # outputs x kernel volume
    assert count_gflops(conv, (3, 16, 16), batch_size=batch_size) == pytest.approx(2 * macs / 1e9)


def test_count_gflops_of_a_strided_conv_and_a_linear():
    model = nn.Sequential(nn.Conv2d(2, 4, 2, stride=2, bias=False), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    macs = 4 * 4 * 4 * 2 * 2 * 2 + 64 * 10
    assert count_gflops(model, (2, 8, 8)) == pytest.approx(2 * macs / 1e9)


def test_count_gflops_on_the_meta_device():
    with torch.device("meta"):
        model = zoo.create_model("resnet18")
    # torchvision lists 1.81 GMACs for ResNet-18 at 224x224
    assert count_gflops(model, (3, 224, 224)) == pytest.approx(2 * 1.81, rel=0.02)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_count_gflops_leaves_the_model_in_its_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    count_gflops(model, (3, 8, 8))
    assert model.training
