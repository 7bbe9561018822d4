"""Tests that the zoo's ResNets and DenseNets are torchvision's models of the same name: each loads the
other's state dict strictly and gives the same outputs, and both have the same parameter count and
state-dict shapes."""

import pytest
import torch
import torchvision
from torch import nn

import zoo
from zoo.measure import count_params

# the parameter counts torchvision lists for its models
TORCHVISION = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "densenet161": 28_681_000,
}


def calibrate_norms(model: nn.Module, x: torch.Tensor) -> None:
    """Give every BatchNorm distinct affine weights and running statistics (those of ``x``), so
    a swapped key would show in the output and eval-mode activations stay O(1)."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative: after one batch, the running stats are the batch's
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_torchvision_state_dict_loads_strictly_and_outputs_match(name):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None)
    calibrate_norms(reference, torch.randn(2, 3, 64, 64))
    ours = zoo.create_model(name)
    result = ours.load_state_dict(reference.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ours.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert actual.shape == (1, 1000)
    assert expected.abs().max() < 1e3  # the calibration keeps the comparison meaningful
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "count"), list(TORCHVISION.items()), ids=list(TORCHVISION))
def test_parameter_count_equals_torchvision(name, count):
    with torch.device("meta"):
        reference = getattr(torchvision.models, name)(weights=None)
        ours = zoo.create_model(name)
    assert count_params(ours) == count_params(reference) == count
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
