"""Tests for tasks.analyze.degradation: the training errors of the four nets, and the verdict on them."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace

import pytest

from tasks.analyze import degradation
from tasks.analyze.degradation import LOSS_MARGIN, MEDIUM, QUICK, final_loss, verdict
from tasks.analyze.training import NETS, checkpoint_path

from .conftest import TINY_NETS


def test_run_trains_four_nets_and_reports_their_training_errors(trained_run, study_record):
    record = json.loads((trained_run.out / "degradation" / "degradation.json").read_text())
    numbers = record["numbers"]
    assert set(numbers["train_error"]) == set(NETS) and numbers["data"] == "synthetic"
    assert all(0.0 <= e <= 1.0 for e in numbers["train_error"].values())
    assert record["config"]["steps"] == TINY_NETS.steps
    assert record["verdict"] == asdict(verdict(numbers, TINY_NETS))  # the verdict on the numbers written
    summary = study_record(trained_run, "degradation")["summary"]
    assert summary["train_error/plain56"] == pytest.approx(numbers["train_error"]["plain56"])
    assert summary["verdict/holds"] is record["verdict"]["holds"]


def _numbers(plain20: float, plain56: float, resnet20: float, resnet56: float) -> dict:
    """Made-up final losses (and training errors a tenth of them)."""
    losses = {"plain20": plain20, "plain56": plain56, "resnet20": resnet20, "resnet56": resnet56}
    return {"final_loss": losses, "train_error": {name: loss / 10 for name, loss in losses.items()}}


def test_verdict_holds_when_depth_raises_the_plain_nets_loss_but_not_the_resnets():
    outcome = verdict(_numbers(0.10, 0.20, 0.08, 0.05), QUICK)
    assert outcome.holds
    assert outcome.measured == (
        "final training loss (one seed, last 5% of 800 steps) plain20 0.1, plain56 0.2, resnet20 0.08, resnet56 0.05: "
        "56/20 x2.00 plain, x0.62 resnet (a tie within 10%); "
        "training error plain20 1.0%, plain56 2.0%, resnet20 0.8%, resnet56 0.5%"
    )
    assert "mean of 3 seeds" in verdict(_numbers(0.10, 0.20, 0.08, 0.05), MEDIUM).measured


@pytest.mark.parametrize("resnet56", [0.05, 0.05 * (1 + LOSS_MARGIN / 2)])
def test_verdict_holds_when_the_deeper_resnet_ties_within_the_margin(resnet56):
    assert verdict(_numbers(0.10, 0.20, 0.05, resnet56), QUICK).holds


@pytest.mark.parametrize(
    "numbers",
    [
        _numbers(0.20, 0.10, 0.08, 0.05),  # the deeper plain net trains better: no degradation
        _numbers(0.10, 0.10, 0.08, 0.05),  # the deeper plain net ties
        _numbers(0.10, 0.10 * (1 + LOSS_MARGIN / 2), 0.08, 0.05),  # higher by less than the margin: a tie
        _numbers(0.10, 0.20, 0.05, 0.08),  # the deeper ResNet trains worse: it degrades too
        _numbers(0.10, 0.20, 0.05, 0.05 * (1 + 2 * LOSS_MARGIN)),  # worse by more than the margin
    ],
)
def test_verdict_does_not_hold_without_degradation_of_the_plain_net_alone(numbers):
    assert not verdict(numbers, QUICK).holds


def test_the_final_loss_is_the_mean_of_the_last_5_percent_of_steps():
    assert final_loss([9.0] * 95 + [1.0, 2.0, 3.0, 4.0, 5.0]) == 3.0
    assert final_loss([9.0, 1.0]) == 1.0  # one step at least


def test_more_seeds_train_more_nets_and_report_their_spread(trained_run, analyze_run):
    """A second seed trains four more nets (the first seed's are loaded: how many seeds is not part of a
    net's recipe) and the study reports the means, each seed's figures and the paired depth gaps."""
    shutil.copytree(checkpoint_path(trained_run, "plain20").parent, checkpoint_path(analyze_run, "plain20").parent)
    first = {name: checkpoint_path(analyze_run, name).stat().st_mtime_ns for name in NETS}
    outcome = degradation.run(analyze_run, replace(TINY_NETS, seeds=2))
    assert {name: checkpoint_path(analyze_run, name).stat().st_mtime_ns for name in NETS} == first
    assert all(checkpoint_path(analyze_run, name, replica=1).is_file() for name in NETS)
    numbers = json.loads((analyze_run.out / "degradation" / "degradation.json").read_text())["numbers"]
    for name in NETS:
        runs = numbers["train_error_per_seed"][name]
        assert len(runs) == 2 and numbers["train_error"][name] == pytest.approx(sum(runs) / 2)
        assert len(numbers["train_seconds"][name]) == 2
    ratio = numbers["loss_ratio_interval"]["plain"]
    losses = numbers["final_loss_per_seed"]
    assert ratio["mean"] == pytest.approx(
        sum(a / b for a, b in zip(losses["plain56"], losses["plain20"], strict=True)) / 2
    )
    assert ratio["interval"][0] <= ratio["mean"] <= ratio["interval"][1]
    assert "mean of 2 seeds" in outcome.measured
