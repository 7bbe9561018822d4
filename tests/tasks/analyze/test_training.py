"""Tests for tasks.analyze.training: the four shared nets trained once, saved, and loaded back."""

from __future__ import annotations

from dataclasses import replace

import torch

from tasks.analyze.training import NETS, _load, checkpoint_path, trained_nets

from .conftest import TINY_NETS


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
