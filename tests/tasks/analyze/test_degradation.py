"""Tests for tasks.analyze.degradation: the training errors of the four nets, and the verdict on them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from tasks.analyze.degradation import QUICK, verdict
from tasks.analyze.training import NETS

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
    assert (
        outcome.measured == "training error plain20 10.0%, plain56 20.0%, resnet20 8.0%, resnet56 5.0% after 800 steps"
    )


def test_verdict_holds_when_the_deeper_resnet_ties():
    assert verdict(_errors(0.10, 0.20, 0.05, 0.05), QUICK).holds


@pytest.mark.parametrize(
    "errors",
    [
        _errors(0.20, 0.10, 0.08, 0.05),  # the deeper plain net trains better: no degradation
        _errors(0.10, 0.10, 0.08, 0.05),  # the deeper plain net ties: not higher
        _errors(0.10, 0.20, 0.05, 0.08),  # the deeper ResNet trains worse: it degrades too
    ],
)
def test_verdict_does_not_hold_without_degradation_of_the_plain_net_alone(errors):
    assert not verdict(errors, QUICK).holds
