"""Tests for tasks.analyze.decay: the two decay laws fitted with free parameters, which one fits
better, and the bootstrap interval of the exponential's half-depth."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.analyze.decay import exponential, fit_decay, fit_law, half_depth, power

DEPTHS = [1, 2, 4, 8, 16, 24, 32, 50]


def test_fits_recover_the_parameters_of_exact_curves():
    L = np.asarray(DEPTHS, dtype=np.float64)
    exp_fit = fit_law("exponential", L, exponential(L, 0.9, 0.2))
    power_fit = fit_law("power", L, power(L, 1.0, 0.5))
    assert exp_fit["a"] == pytest.approx(0.9, rel=1e-4) and exp_fit["rate"] == pytest.approx(0.2, rel=1e-4)
    assert power_fit["a"] == pytest.approx(1.0, rel=1e-4) and power_fit["rate"] == pytest.approx(0.5, rel=1e-4)
    assert exp_fit["rss"] < 1e-10 and power_fit["rss"] < 1e-10


def _seeds(law, a: float, rate: float, noise: float, seeds: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return law(np.asarray(DEPTHS, dtype=np.float64), a, rate) + noise * rng.standard_normal((seeds, len(DEPTHS)))


@pytest.mark.parametrize("law, rate, name", [(exponential, 0.15, "exponential"), (power, 0.5, "power")])
def test_the_law_that_made_the_data_fits_better(law, rate, name):
    assert fit_decay(DEPTHS, _seeds(law, 1.0, rate, 0.05), 20)["better"] == name


def test_the_half_depth_interval_covers_the_true_half_depth_and_narrows_with_less_noise():
    true = half_depth(0.1)
    noisy = fit_decay(DEPTHS, _seeds(exponential, 1.0, 0.1, 0.1), 200)["half_depth_interval"]
    clean = fit_decay(DEPTHS, _seeds(exponential, 1.0, 0.1, 0.01), 200)["half_depth_interval"]
    assert noisy[0] < true < noisy[1] and clean[0] < true < clean[1]
    assert clean[1] - clean[0] < (noisy[1] - noisy[0]) / 5


def test_the_bootstrap_is_reproducible_for_a_seed():
    values = _seeds(exponential, 1.0, 0.1, 0.1)
    assert fit_decay(DEPTHS, values, 30, seed=1) == fit_decay(DEPTHS, values, 30, seed=1)
