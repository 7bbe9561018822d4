"""Tests for zoo.blocks.dense: DenseLayer, DenseBlock and Transition."""

import pytest
import torch
from torch import nn

from zoo.blocks import DenseBlock, DenseLayer, Transition


def test_dense_layer_bottleneck_structure_and_growth():
    layer = DenseLayer(8, growth_rate=4, bn_size=2)
    assert layer.bottleneck
    assert (layer.conv1.in_channels, layer.conv1.out_channels, layer.conv1.kernel_size) == (8, 8, (1, 1))
    assert (layer.conv2.in_channels, layer.conv2.out_channels, layer.conv2.kernel_size) == (8, 4, (3, 3))
    assert layer.norm1.num_features == 8 and layer.norm2.num_features == 8
    # it concatenates its list of inputs: 3 + 5 channels
    out = layer([torch.randn(2, 3, 8, 8), torch.randn(2, 5, 8, 8)])
    assert out.shape == (2, 4, 8, 8)


def test_dense_layer_without_bottleneck():
    layer = DenseLayer(8, growth_rate=4, bn_size=0)
    assert not layer.bottleneck
    assert not hasattr(layer, "conv2") and not hasattr(layer, "norm2")
    assert (layer.conv1.in_channels, layer.conv1.out_channels, layer.conv1.kernel_size) == (8, 4, (3, 3))
    assert layer([torch.randn(2, 8, 8, 8)]).shape == (2, 4, 8, 8)
    assert sum(p.numel() for p in layer.parameters()) == 2 * 8 + 8 * 4 * 9


@pytest.mark.parametrize("bn_size", [4, 0])
@pytest.mark.parametrize(("in_chs", "num_layers", "k"), [(8, 3, 4), (6, 1, 2), (16, 4, 12)])
def test_dense_block_channels_are_in_plus_layers_times_k(bn_size, in_chs, num_layers, k):
    block = DenseBlock(num_layers, in_chs, k, bn_size=bn_size)
    assert block.out_chs == in_chs + num_layers * k
    assert list(block.keys()) == [f"denselayer{i + 1}" for i in range(num_layers)]
    for i, layer in enumerate(block.values()):
        assert layer.norm1.num_features == in_chs + i * k
    x = torch.randn(2, in_chs, 8, 8)
    out = block(x)
    assert out.shape == (2, in_chs + num_layers * k, 8, 8)
    assert torch.equal(out[:, :in_chs], x)  # concatenation keeps the input


def test_dense_block_norm_choice():
    block = DenseBlock(2, 32, 32, norm="group")
    assert isinstance(block.denselayer1.norm1, nn.GroupNorm)
    none = DenseBlock(2, 8, 4, norm="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in none.modules())
    assert none(torch.randn(2, 8, 6, 6)).shape == (2, 16, 6, 6)


def test_dense_layer_drop_rate_only_in_training():
    layer = DenseLayer(8, 4, bn_size=0, drop_rate=0.5, norm="group")
    x = [torch.randn(2, 8, 8, 8)]
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    torch.manual_seed(0)
    out = layer(x)
    assert (out == 0).float().mean() > 0.3


def _copy(block: DenseBlock, **kwargs) -> DenseBlock:
    other = DenseBlock(
        len(block), block.denselayer1.norm1.num_features, block.denselayer1.conv2.out_channels, bn_size=2, **kwargs
    )
    other.load_state_dict(block.state_dict())
    return other


def test_memory_efficient_gives_same_outputs_and_gradients():
    torch.manual_seed(0)
    default = DenseBlock(3, 4, 4, bn_size=2)
    efficient = _copy(default, memory_efficient=True)
    assert all(layer.memory_efficient for layer in efficient.values())
    x = torch.randn(2, 4, 8, 8)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = default(xa), efficient(xb)
    assert torch.allclose(out_a, out_b, atol=1e-6)
    weight = torch.randn_like(out_a)
    (out_a * weight).sum().backward()
    (out_b * weight).sum().backward()
    assert torch.allclose(xa.grad, xb.grad, atol=1e-5)
    for (name, pa), (_, pb) in zip(default.named_parameters(), efficient.named_parameters(), strict=True):
        assert pa.grad is not None and pb.grad is not None, name
        assert torch.allclose(pa.grad, pb.grad, atol=1e-5), name


def test_memory_efficient_updates_batch_norm_statistics_once():
    # the recomputation in the backward pass must not update the running statistics a second time
    torch.manual_seed(0)
    default = DenseBlock(2, 4, 4, bn_size=2)
    efficient = _copy(default, memory_efficient=True)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    default(x).sum().backward()
    efficient(x).sum().backward()
    for (name, a), (_, b) in zip(default.named_buffers(), efficient.named_buffers(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_memory_efficient_uses_checkpointing():
    efficient = DenseLayer(4, 4, bn_size=2, memory_efficient=True)
    calls = []
    efficient.norm1.register_forward_pre_hook(lambda *a: calls.append(1))
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    efficient([x]).sum().backward()
    assert len(calls) == 2  # forward, then recomputed in backward
    calls.clear()
    with torch.no_grad():
        efficient([x])
    assert len(calls) == 1


def test_transition_compresses_and_halves_size():
    t = Transition(16, 8)
    assert [type(m) for m in t] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.AvgPool2d]
    assert t.conv.kernel_size == (1, 1)
    assert t(torch.randn(2, 16, 12, 10)).shape == (2, 8, 6, 5)
    assert t(torch.randn(2, 16, 7, 7)).shape == (2, 8, 3, 3)


def test_transition_average_pools():
    t = Transition(2, 2, norm="none")
    with torch.no_grad():
        t.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    x = torch.rand(1, 2, 4, 4)  # non-negative: the ReLU passes it unchanged
    expected = x.view(1, 2, 2, 2, 2, 2).mean(dim=(3, 5))
    assert torch.allclose(t(x), expected, atol=1e-6)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_transition_does_not_modify_its_input(norm):
    t = Transition(4, 2, norm=norm)
    x = torch.randn(2, 4, 8, 8)
    before = x.clone()
    t(x)
    assert torch.equal(x, before)
