"""Tests for tasks.analyze.lesion: which blocks can go, deleting them, and the study's numbers."""

from __future__ import annotations

import json

import torch

import zoo
from tasks.analyze.lesion import LesionConfig, deletable_blocks, run, without

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
    run(trained_run, LesionConfig(nets=TINY_NETS, pair=("resnet20", "plain20"), max_deleted=3, samples=1))
    numbers = json.loads((trained_run.out / "lesion" / "lesion.json").read_text())["numbers"]
    for name in ("resnet20", "plain20"):
        assert len(numbers[name]["single"]) == 7  # 9 blocks, 2 downsampling
        assert len(numbers[name]["progressive"]) == 4
        assert numbers[name]["progressive"][0] == numbers[name]["intact"]
    assert numbers["chance"] == 0.1
    assert study_record(trained_run, "lesion")["summary"]["resnet20/intact"] == numbers["resnet20"]["intact"]
