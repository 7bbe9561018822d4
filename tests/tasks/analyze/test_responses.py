"""Tests for tasks.analyze.responses: one std per 3x3 layer of each trained net."""

from __future__ import annotations

import json

import torch

from tasks.analyze.degradation import trained_nets
from tasks.analyze.responses import ResponsesConfig, response_layers, response_stds, run

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
    numbers = json.loads((trained_run.out / "responses" / "responses.json").read_text())["numbers"]
    assert {k: len(v) for k, v in numbers["std"].items()} == {
        "plain20": 19,
        "plain56": 55,
        "resnet20": 19,
        "resnet56": 55,
    }
    assert set(study_record(trained_run, "responses")["summary"]) >= {"mean_std/resnet56", "verdict/holds"}
