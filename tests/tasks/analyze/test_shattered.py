"""Tests for tasks.analyze.shattered: the autocorrelation, the nets, the study's numbers and its verdict."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from tasks.analyze.shattered import (
    KINDS,
    QUICK,
    ShatteredConfig,
    autocorrelation,
    input_gradients,
    make_net,
    run,
    verdict,
)


def test_autocorrelation_of_white_noise_is_near_zero_and_of_a_slow_wave_near_one():
    rng = np.random.default_rng(0)
    noise = autocorrelation(rng.standard_normal(4000), 3)
    wave = autocorrelation(np.sin(np.linspace(0, 3, 4000)), 3)
    assert noise[0] == pytest.approx(1.0) and max(abs(v) for v in noise[1:]) < 0.05
    assert min(wave) > 0.99


def test_input_gradients_match_finite_differences():
    torch.manual_seed(0)
    net = make_net("resnet_bn", width=8, depth=2)
    x = torch.linspace(-2, 2, 16).unsqueeze(1).double()
    net = net.double()
    grad = input_gradients(net, x)
    with torch.no_grad():
        eps = 1e-6
        numeric = ((net(x + eps) - net(x - eps)) / (2 * eps))[:, 0].numpy()
    assert np.allclose(grad, numeric, atol=1e-4)


def test_unknown_net_kind_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="plain_bn"):
        make_net("vgg", 8, 2)


def test_run_reports_an_autocorrelation_curve_per_net(analyze_run, study_record):
    config = ShatteredConfig(points=64, width=16, depth=3, max_lag=5, repeats=1)
    run(analyze_run, config)
    record = json.loads((analyze_run.out / "shattered" / "shattered.json").read_text())
    numbers = record["numbers"]
    assert list(numbers) == list(KINDS)
    for result in numbers.values():
        assert len(result["autocorrelation"]) == 6 and result["autocorrelation"][0] == pytest.approx(1.0)
        assert len(result["gradient"]) == 64
    assert numbers["shallow"]["lag1"] > 0.8  # one hidden layer: a few kinks over 64 points
    summary = study_record(analyze_run, "shattered")["summary"]
    assert summary["plain/lag1"] == pytest.approx(numbers["plain"]["lag1"])
    assert record["verdict"] == asdict(verdict(numbers, config))  # the verdict on the numbers written


HOLDS = {"shallow": 0.9, "plain": 0.5, "plain_bn": 0.1, "resnet": 0.8, "resnet_bn": 0.5}
"""Lag-1 autocorrelations for which the claim holds: one plain net near white noise, the others at
or above 0.5."""


def _lag1(**changes: float) -> dict:
    return {kind: {"lag1": value} for kind, value in {**HOLDS, **changes}.items()}


def test_verdict_holds_when_a_plain_net_shatters_and_the_others_keep_correlation():
    outcome = verdict(_lag1(), QUICK)
    assert outcome.holds
    assert (
        outcome.measured == "lag-1 autocorrelation shallow 0.90, plain 0.50, plain_bn 0.10, resnet 0.80, resnet_bn 0.50"
    )
    assert "(24 layers)" in outcome.claim


@pytest.mark.parametrize(
    "changes",
    [
        {"plain_bn": 0.2},  # no plain net below 0.2 (plain_bn at the threshold)
        {"resnet": 0.4},  # a residual net loses its correlation
        {"shallow": 0.3},  # the shallow net loses its correlation
    ],
)
def test_verdict_does_not_hold_when_no_plain_net_shatters_or_another_net_does(changes):
    assert not verdict(_lag1(**changes), QUICK).holds
