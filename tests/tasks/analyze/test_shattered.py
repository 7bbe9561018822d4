"""Tests for tasks.analyze.shattered: the autocorrelation, the nets and their initialisations, the
derivative in forward mode, the study's numbers and its verdict."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from tasks.analyze.shattered import (
    FAMILIES,
    HE,
    INITS,
    Init,
    ShatteredConfig,
    autocorrelation,
    input_gradients,
    judge_pair,
    make_net,
    run,
    verdict,
    white_noise_depth,
)


def test_autocorrelation_of_white_noise_is_near_zero_and_of_a_slow_wave_near_one():
    rng = np.random.default_rng(0)
    noise = autocorrelation(rng.standard_normal(4000), 3)
    wave = autocorrelation(np.sin(np.linspace(0, 3, 4000)), 3)
    assert noise[0] == pytest.approx(1.0) and max(abs(v) for v in noise[1:]) < 0.05
    assert min(wave) > 0.99


def _freeze_batch_statistics(net: torch.nn.Module, x: torch.Tensor) -> None:
    """Run ``net`` on ``x`` in training mode, then fix every BatchNorm to the batch statistics it saw
    (mean and biased variance) and switch to eval mode: the forward values stay those of training mode."""
    seen = {}
    hooks = [
        m.register_forward_hook(lambda m, inputs, out: seen.__setitem__(m, inputs[0]))
        for m in net.modules()
        if isinstance(m, torch.nn.BatchNorm1d)
    ]
    with torch.no_grad():
        net.train()(x)
    for module, inputs in seen.items():
        module.running_mean.copy_(inputs.mean(0))
        module.running_var.copy_(inputs.var(0, unbiased=False))
    for hook in hooks:
        hook.remove()
    net.eval()


@pytest.mark.parametrize("family", FAMILIES)
def test_input_gradients_match_finite_differences_with_the_lines_batchnorm_statistics(family):
    torch.manual_seed(0)
    net = make_net(family, width=8, depth=3).double()
    x = torch.linspace(-2, 2, 16).unsqueeze(1).double()
    grad = input_gradients(net, x)
    _freeze_batch_statistics(net, x)
    with torch.no_grad():
        eps = 1e-6
        numeric = ((net(x + eps) - net(x - eps)) / (2 * eps))[:, 0].numpy()
    assert np.allclose(grad, numeric, atol=1e-6)


def test_unknown_net_family_and_bias_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="plain_bn"):
        make_net("vgg", 8, 2)
    with pytest.raises(ValueError, match="fan_in"):
        make_net("plain", 8, 2, Init(bias="large"))


@pytest.mark.parametrize("bias, std", [("zero", 0.0), ("default", 1 / np.sqrt(3 * 400)), ("fan_in", 1 / 20)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_layers_are_initialised_with_the_chosen_gain_and_bias_scale(bias, std, gain):
    torch.manual_seed(0)
    layer = make_net("plain", 400, 2, Init(bias=bias, gain=gain))[3]  # the hidden 400 -> 400 layer
    assert layer.weight.std().item() == pytest.approx(np.sqrt(gain / 400), rel=0.02)
    assert layer.bias.std().item() == pytest.approx(std, rel=0.15, abs=1e-12)


@pytest.mark.parametrize("family", ["plain", "resnet"])
def test_without_biases_the_derivative_is_constant_on_each_side_of_zero(family):
    torch.manual_seed(0)
    grad = input_gradients(make_net(family, 32, 8, Init(bias="zero")), torch.linspace(-2, 2, 64).unsqueeze(1))
    assert np.ptp(grad[:32]) < 1e-5 * np.abs(grad).max() and np.ptp(grad[32:]) < 1e-5 * np.abs(grad).max()
    with_biases = input_gradients(make_net(family, 32, 8, HE), torch.linspace(-2, 2, 64).unsqueeze(1))
    assert np.ptp(with_biases[:32]) > 1e-2 * np.abs(with_biases).max()


TINY = ShatteredConfig(
    points=64, width=16, depths=(1, 2, 4), seeds=3, lags=(1, 2), max_lag=4, init_depth=2, resamples=5
)


def test_run_reports_the_depth_and_initialisation_sweeps_and_the_fits(analyze_run, study_record):
    run(analyze_run, TINY)
    record = json.loads((analyze_run.out / "shattered" / "shattered.json").read_text())
    numbers = record["numbers"]
    assert numbers["depths"] == [1, 2, 4] and list(numbers["depth"]) == list(FAMILIES)
    for cells in numbers["depth"].values():
        assert list(cells) == ["1", "2", "4"]
        for cell in cells.values():
            assert len(cell["lag1"]["per_seed"]) == 3 and len(cell["autocorrelation"]) == 5
            low, high = cell["lag2"]["interval"]
            assert low <= cell["lag2"]["mean"] <= high
    assert list(numbers["init"]) == ["plain", "resnet"]
    assert list(numbers["init"]["plain"]) == [i.label for i in INITS]
    assert numbers["init"]["plain"]["bias=zero, gain=2"]["lag1"]["mean"] > 0.95  # linear on each side of 0
    fit = numbers["fits"]["plain_bn"]["lag1"]
    assert fit["better"] in ("exponential", "power") and fit["half_depth"] > 0
    assert set(numbers["examples"]) == {"plain, 1 layer", *FAMILIES}
    assert (analyze_run.out / "shattered" / "shattered.png").is_file()
    summary = study_record(analyze_run, "shattered")["summary"]
    assert summary["depth/plain/2/lag1/mean"] == pytest.approx(numbers["depth"]["plain"]["2"]["lag1"]["mean"])
    assert record["verdict"] == asdict(verdict(numbers))  # the verdict on the numbers written


def _fit(better: str, interval: tuple[float, float]) -> dict:
    rss = {"exponential": 0.01, "power": 0.1} if better == "exponential" else {"exponential": 0.1, "power": 0.01}
    return {
        "lag1": {
            "exponential": {"a": 1.0, "rate": 0.1, "rss": rss["exponential"]},
            "power": {"a": 1.0, "rate": 0.5, "rss": rss["power"]},
            "better": better,
            "half_depth": sum(interval) / 2,
            "half_depth_interval": list(interval),
        }
    }


def _numbers(
    plain_bn: tuple[str, tuple[float, float]] = ("exponential", (5.0, 6.0)),
    resnet_bn: tuple[str, tuple[float, float]] = ("power", (11.0, 13.0)),
    lag1: dict[str, list[tuple[float, float]]] | None = None,
) -> dict:
    """Made-up fits (the paper's set-up with BN as given, without BN not holding: the resnet decays
    as fast as the plain net) and lag-1 intervals at depths 1, 8, 50."""
    lag1 = lag1 or {}
    intervals = {family: lag1.get(family, [(0.9, 1.0), (0.5, 0.6), (0.2, 0.3)]) for family in FAMILIES}
    return {
        "depths": [1, 8, 50],
        "fits": {
            "plain_bn": _fit(*plain_bn),
            "resnet_bn": _fit(*resnet_bn),
            "plain": _fit("exponential", (90.0, 180.0)),
            "resnet": _fit("exponential", (70.0, 160.0)),
        },
        "depth": {
            family: {str(d): {"lag1": {"interval": list(i)}} for d, i in zip([1, 8, 50], rows, strict=True)}
            for family, rows in intervals.items()
        },
    }


def test_verdict_holds_when_the_plain_bn_net_decays_exponentially_and_the_resnet_measurably_slower():
    numbers = _numbers()
    outcome = verdict(numbers)
    assert outcome.holds
    assert judge_pair(numbers, "plain_bn", "resnet_bn") == {
        "plain_exponential": True,
        "resnet_slower": True,
        "holds": True,
    }
    assert not judge_pair(numbers, "plain", "resnet")["holds"]  # reported, not judged
    assert "with BN (holds): plain_bn half-depth 5.5 [5.0, 6.0], fits exponential" in outcome.measured
    assert "without BN (does not hold)" in outcome.measured
    assert "Balduzzi et al. 2017" in outcome.claim


@pytest.mark.parametrize(
    "changes",
    [
        {"plain_bn": ("power", (5.0, 6.0))},  # the plain net's decay is better fit by a power law
        {"resnet_bn": ("power", (6.0, 8.0))},  # the intervals touch: not measurably slower
        {"resnet_bn": ("power", (5.5, 8.0))},  # the intervals overlap
        {"resnet_bn": ("exponential", (2.0, 3.0))},  # the resnet decays faster
    ],
)
def test_verdict_does_not_hold_unless_the_plain_net_is_exponential_and_the_resnet_slower(changes):
    assert not verdict(_numbers(**changes)).holds


def test_white_noise_depth_is_the_first_depth_whose_interval_lies_within_a_tenth_of_zero():
    numbers = _numbers(
        lag1={
            "plain_bn": [(0.9, 1.0), (-0.1, 0.1), (-0.05, 0.05)],
            "resnet_bn": [(0.9, 1.0), (0.05, 0.15), (-0.11, 0.0)],
        }
    )
    assert white_noise_depth(numbers, "plain_bn") == 8
    assert white_noise_depth(numbers, "resnet_bn") is None
    assert "white noise from L=8" in verdict(numbers).measured


def test_the_initialisation_sweep_depth_must_be_one_of_the_swept_depths():
    with pytest.raises(ValueError, match="init_depth 3 must be one of depths"):
        ShatteredConfig(depths=(1, 2, 4), init_depth=3)
