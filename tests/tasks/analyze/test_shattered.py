"""Tests for tasks.analyze.shattered: the autocorrelation, the nets and the study's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tasks.analyze.shattered import KINDS, ShatteredConfig, autocorrelation, input_gradients, make_net, run


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
    numbers = json.loads((analyze_run.out / "shattered" / "shattered.json").read_text())["numbers"]
    assert list(numbers) == list(KINDS)
    for result in numbers.values():
        assert len(result["autocorrelation"]) == 6 and result["autocorrelation"][0] == pytest.approx(1.0)
        assert len(result["gradient"]) == 64
    assert numbers["shallow"]["lag1"] > 0.8  # one hidden layer: a few kinks over 64 points
    summary = study_record(analyze_run, "shattered")["summary"]
    assert summary["plain/lag1"] == pytest.approx(numbers["plain"]["lag1"])
