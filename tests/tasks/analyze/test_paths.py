"""Tests for tasks.analyze.paths: gradients through chosen paths, the study's distribution and its verdict."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

import zoo
from tasks.analyze.paths import QUICK, PathsConfig, _gated_block, path_gradient, residual_blocks, run, verdict

from .conftest import TINY_NETS


@pytest.fixture(scope="module")
def net_and_batch():
    torch.manual_seed(0)
    net = zoo.create_model("resnet20", widths=[4, 8, 8]).eval()
    return net, torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])


def test_path_gradients_sum_to_the_full_gradient_over_all_paths_of_a_two_block_net(net_and_batch):
    """With gradients summed over every subset of branches, the paths add up to backprop itself."""
    _, images, labels = net_and_batch
    small = zoo.create_model("resnet20", widths=[4, 8, 8]).eval()
    small.layer1 = small.layer1[:2]
    small.layer2, small.layer3 = torch.nn.Identity(), torch.nn.Identity()
    small.fc = torch.nn.Linear(4, 10)
    assert len(residual_blocks(small)) == 2

    def grad(branches):
        stem = small.maxpool(small.relu(small.bn1(small.conv1(images)))).detach().requires_grad_(True)
        x = stem
        for i, block in enumerate(residual_blocks(small)):
            x = _gated_block(block, x, i in branches)
        F.cross_entropy(small.forward_head(x), labels, reduction="sum").backward()
        return stem.grad

    total = sum(grad(s) for s in [set(), {0}, {1}, {0, 1}])
    stem = small.maxpool(small.relu(small.bn1(small.conv1(images)))).detach().requires_grad_(True)
    F.cross_entropy(small.forward_head(small.layer1(stem)), labels, reduction="sum").backward()
    assert torch.allclose(total, stem.grad, atol=1e-5)


def test_path_gradient_is_positive_and_rejects_plain_nets(net_and_batch):
    net, images, labels = net_and_batch
    assert path_gradient(net, images, labels, {0, 3}) > 0
    with pytest.raises(ValueError, match="post-activation ResNets"):
        path_gradient(zoo.create_model("plain20", widths=[4, 8, 8]), images, labels, set())


def test_run_reports_the_gradient_share_per_path_length(trained_run, study_record):
    config = PathsConfig(nets=TINY_NETS, model="resnet20", images=4, samples=1)
    run(trained_run, config)
    record = json.loads((trained_run.out / "paths" / "paths.json").read_text())
    numbers = record["numbers"]
    assert numbers["blocks"] == 9 and len(numbers["per_path_gradient"]) == 10
    assert sum(numbers["gradient_share"]) == pytest.approx(1.0) and sum(numbers["path_share"]) == pytest.approx(1.0)
    lo, hi = numbers["effective_range"]
    assert 0 <= lo <= numbers["effective_mean_length"] <= hi <= 9
    summary = study_record(trained_run, "paths")["summary"]
    assert summary["effective_mean_length"] == pytest.approx(numbers["effective_mean_length"])
    assert record["verdict"] == asdict(verdict(numbers, config))  # the verdict on the numbers written


def _lengths(effective: float) -> dict:
    return {"blocks": 9, "effective_mean_length": effective, "effective_range": [0, 6]}


@pytest.mark.parametrize("effective", [2.0, 3.0])  # a third of the 9 blocks, or less
def test_verdict_holds_when_the_gradient_comes_from_paths_at_most_a_third_of_the_net(effective):
    assert verdict(_lengths(effective), QUICK).holds


def test_verdict_does_not_hold_when_the_gradient_comes_from_longer_paths():
    outcome = verdict(_lengths(3.5), QUICK)
    assert not outcome.holds
    assert outcome.measured == (
        "resnet56 (9 blocks, typical path 4.5): gradient-weighted mean path length 3.5, "
        "90% of the gradient from lengths 0-6"
    )
