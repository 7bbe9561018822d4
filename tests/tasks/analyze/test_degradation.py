"""Tests for tasks.analyze.degradation: the training errors of the four nets, and the verdict on them."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace

import pytest

from tasks.analyze import degradation
from tasks.analyze.degradation import MARGIN, MEDIUM, QUICK, verdict
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


def _errors(plain20: float, plain56: float, resnet20: float, resnet56: float) -> dict:
    return {"train_error": {"plain20": plain20, "plain56": plain56, "resnet20": resnet20, "resnet56": resnet56}}


def test_verdict_holds_when_depth_raises_the_plain_nets_error_but_not_the_resnets():
    outcome = verdict(_errors(0.10, 0.20, 0.08, 0.05), QUICK)
    assert outcome.holds
    assert outcome.measured == (
        "training error (one seed) plain20 10.0%, plain56 20.0%, resnet20 8.0%, resnet56 5.0% after 800 steps: "
        "56 - 20 = +10.0 pts plain, -3.0 pts resnet (a tie within 1 pt)"
    )
    assert "mean of 3 seeds" in verdict(_errors(0.10, 0.20, 0.08, 0.05), MEDIUM).measured


@pytest.mark.parametrize("resnet56", [0.05, 0.05 + MARGIN / 2])
def test_verdict_holds_when_the_deeper_resnet_ties_within_the_margin(resnet56):
    assert verdict(_errors(0.10, 0.20, 0.05, resnet56), QUICK).holds


def test_verdict_is_undecided_when_resnet20_has_memorised_its_training_set():
    outcome = verdict(_errors(0.10, 0.20, 0.0, 0.0), QUICK)
    assert not outcome.holds and "undecided" in outcome.measured


@pytest.mark.parametrize(
    "errors",
    [
        _errors(0.20, 0.10, 0.08, 0.05),  # the deeper plain net trains better: no degradation
        _errors(0.10, 0.10, 0.08, 0.05),  # the deeper plain net ties: not higher
        _errors(0.10, 0.20, 0.05, 0.08),  # the deeper ResNet trains worse: it degrades too
        _errors(0.10, 0.10 + MARGIN / 2, 0.08, 0.05),  # the deeper plain net is worse by less than the margin
        _errors(0.10, 0.20, 0.05, 0.05 + 2 * MARGIN),  # the deeper ResNet is worse by more than the margin
    ],
)
def test_verdict_does_not_hold_without_degradation_of_the_plain_net_alone(errors):
    assert not verdict(errors, QUICK).holds


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
    gap = numbers["gap_interval"]["plain"]
    errors = numbers["train_error_per_seed"]
    assert (
        gap["mean"] == pytest.approx(sum(errors["plain56"]) / 2 - sum(errors["plain20"]) / 2)
        and gap["interval"][0] <= gap["mean"] <= gap["interval"][1]
    )
    assert "mean of 2 seeds" in outcome.measured
