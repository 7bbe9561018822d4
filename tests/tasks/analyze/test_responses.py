"""Tests for tasks.analyze.responses: one std per 3x3 layer of each trained net, and the verdict on them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from tasks.analyze.responses import ResponsesConfig, response_layers, response_stds, run, verdict
from tasks.analyze.training import trained_nets

from .conftest import TINY_NETS


def test_one_response_per_3x3_conv(trained_run):
    nets = trained_nets(trained_run, TINY_NETS)
    assert len(response_layers(nets["resnet20"].net)) == 19  # stem + 2 per block x 9 blocks
    assert len(response_layers(nets["plain56"].net)) == 55


def test_response_std_of_a_fresh_bn_is_about_one():
    import zoo

    net = zoo.create_model("resnet20", widths=[4, 8, 8], num_classes=10).train()
    images = torch.randn(32, 3, 16, 16)
    with torch.no_grad():
        net(images)  # batch statistics into the running ones
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    with torch.no_grad():
        net(images)
    assert abs(response_stds(net, images)[0] - 1.0) < 0.05  # the stem's BN output, normalised on this batch


def test_run_reports_per_layer_stds_for_the_four_nets(trained_run, study_record):
    run(trained_run, ResponsesConfig(nets=TINY_NETS, images=16))
    record = json.loads((trained_run.out / "responses" / "responses.json").read_text())
    numbers = record["numbers"]
    assert {k: len(v) for k, v in numbers["std"].items()} == {
        "plain20": 19,
        "plain56": 55,
        "resnet20": 19,
        "resnet56": 55,
    }
    assert set(study_record(trained_run, "responses")["summary"]) >= {"mean_std/resnet56", "verdict/holds"}
    assert record["verdict"] == asdict(verdict(numbers))  # the verdict on the numbers written


def _means(plain20: float, plain56: float, resnet20: float, resnet56: float) -> dict:
    return {"mean_std": {"plain20": plain20, "plain56": plain56, "resnet20": resnet20, "resnet56": resnet56}}


def test_verdict_holds_when_the_resnets_respond_less_and_the_deeper_one_least():
    outcome = verdict(_means(1.0, 1.2, 0.6, 0.4))
    assert outcome.holds
    assert outcome.measured == "mean response std plain20 1.000, plain56 1.200, resnet20 0.600, resnet56 0.400"


@pytest.mark.parametrize(
    "means",
    [
        _means(0.6, 1.2, 0.6, 0.4),  # resnet20 no smaller than plain20
        _means(1.0, 0.4, 0.6, 0.4),  # resnet56 no smaller than plain56
        _means(1.0, 1.2, 0.4, 0.4),  # resnet56 no smaller than resnet20
        _means(1.0, 1.2, 0.4, 0.6),  # the deeper ResNet responds more
    ],
)
def test_verdict_does_not_hold_unless_every_resnet_response_is_strictly_smaller(means):
    assert not verdict(means).holds
