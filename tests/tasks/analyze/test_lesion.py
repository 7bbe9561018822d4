"""Tests for tasks.analyze.lesion: which blocks can go, deleting them, the study's numbers and its verdict."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

import zoo
from tasks.analyze.lesion import QUICK, LesionConfig, deletable_blocks, run, verdict, without

from .conftest import TINY_NETS


def test_downsampling_blocks_are_not_deletable():
    net = zoo.create_model("resnet20", widths=[4, 8, 8])
    blocks = deletable_blocks(net)
    assert len(blocks) == 7 and ("layer2", 0) not in blocks and ("layer3", 0) not in blocks


def test_without_replaces_blocks_by_the_identity_in_a_copy():
    net = zoo.create_model("resnet20", widths=[4, 8, 8]).eval()
    lesioned = without(net, [("layer1", 1)])
    assert isinstance(lesioned.layer1[1], torch.nn.Identity) and not isinstance(net.layer1[1], torch.nn.Identity)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert lesioned(x).shape == net(x).shape == (2, 10)


def test_run_reports_single_and_progressive_deletions(trained_run, study_record):
    config = LesionConfig(nets=TINY_NETS, pair=("resnet20", "plain20"), max_deleted=3, samples=1)
    run(trained_run, config)
    record = json.loads((trained_run.out / "lesion" / "lesion.json").read_text())
    numbers = record["numbers"]
    for name in ("resnet20", "plain20"):
        assert len(numbers[name]["single"]) == 7  # 9 blocks, 2 downsampling
        assert len(numbers[name]["progressive"]) == 4
        assert numbers[name]["progressive"][0] == numbers[name]["intact"]
    assert numbers["chance"] == 0.1
    assert study_record(trained_run, "lesion")["summary"]["resnet20/intact"] == numbers["resnet20"]["intact"]
    assert record["verdict"] == asdict(verdict(numbers, config))  # the verdict on the numbers written


def _accuracies(resnet_single: float, plain_single: float) -> dict:
    """Both nets 75% intact, chance 25%: a quarter of the margin over chance is 12.5 points."""
    return {
        "resnet56": {"intact": 0.75, "single_mean": resnet_single, "progressive": [0.75, resnet_single, 0.5]},
        "plain56": {"intact": 0.75, "single_mean": plain_single},
        "chance": 0.25,
    }


def test_verdict_holds_when_the_resnet_loses_little_and_the_plain_net_collapses():
    outcome = verdict(_accuracies(resnet_single=0.7, plain_single=0.3), QUICK)
    assert outcome.holds
    assert outcome.measured == (
        "resnet56 75.0% -> 70.0% mean after one deletion (-5.0 pts), 50.0% after 2; "
        "plain56 75.0% -> 30.0% (-45.0 pts); chance 25%"
    )


@pytest.mark.parametrize(
    ("resnet_single", "plain_single"),
    [
        (0.625, 0.3),  # the ResNet loses a quarter of its margin
        (0.4, 0.3),  # the ResNet collapses too
        (0.7, 0.375),  # the plain net keeps a quarter of its margin
        (0.7, 0.7),  # the plain net loses little too
    ],
)
def test_verdict_does_not_hold_unless_only_the_plain_net_collapses(resnet_single, plain_single):
    assert not verdict(_accuracies(resnet_single, plain_single), QUICK).holds
