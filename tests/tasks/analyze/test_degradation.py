"""Tests for tasks.analyze.degradation: the four nets trained once, saved, and loaded back."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from tasks.analyze.degradation import NETS, _load, checkpoint_path, trained_nets

from .conftest import TINY_NETS


def test_run_trains_four_nets_and_reports_their_training_errors(trained_run, study_record):
    record = json.loads((trained_run.out / "degradation" / "degradation.json").read_text())
    numbers = record["numbers"]
    assert set(numbers["train_error"]) == set(NETS) and numbers["data"] == "synthetic"
    assert all(0.0 <= e <= 1.0 for e in numbers["train_error"].values())
    assert record["config"]["steps"] == TINY_NETS.steps
    summary = study_record(trained_run, "degradation")["summary"]
    assert summary["train_error/plain56"] == pytest.approx(numbers["train_error"]["plain56"])
    assert isinstance(summary["verdict/holds"], bool)


def test_trained_nets_are_loaded_from_the_checkpoints_not_retrained(trained_run):
    stamps = {name: checkpoint_path(trained_run, name).stat().st_mtime_ns for name in NETS}
    nets = trained_nets(trained_run, TINY_NETS)
    assert {name: checkpoint_path(trained_run, name).stat().st_mtime_ns for name in NETS} == stamps
    assert len(nets["resnet20"].record["loss_curve"]) == TINY_NETS.steps
    saved = torch.load(checkpoint_path(trained_run, "plain56"), weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in nets["plain56"].net.state_dict().items())
    assert nets["plain56"].net.layer1[0].downsample is None  # a plain net: no shortcut


def test_a_different_recipe_does_not_reuse_the_checkpoints(trained_run):
    other = replace(TINY_NETS, steps=TINY_NETS.steps + 1)
    path = checkpoint_path(trained_run, "resnet20")
    assert _load(path, TINY_NETS, "synthetic") is not None
    assert _load(path, other, "synthetic") is None and _load(path, TINY_NETS, "cifar") is None


def test_a_cut_short_checkpoint_is_trained_again_not_an_error(trained_run, tmp_path, capsys):
    cut = tmp_path / "resnet20.pt"
    cut.write_bytes(checkpoint_path(trained_run, "resnet20").read_bytes()[:100])
    assert _load(cut, TINY_NETS, "synthetic") is None
    assert "resnet20.pt" in capsys.readouterr().out
