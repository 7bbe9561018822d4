"""Decay laws over depth, fitted with free parameters: how fast a quantity measured per depth L (the
gradient autocorrelation of the shattered-gradients study) falls.

Balduzzi et al. 2017 ("The Shattered Gradients Problem", sec. 3-4) predict an exponential decay,
2^-L, for feedforward nets and a sublinear one, about 1/sqrt(L), for resnets with BatchNorm. To judge
the shape rather than one constant, both laws are fitted with free parameters, a exp(-b L) and
a L^-c, by least squares (`scipy.optimize.curve_fit`), and compared by their residual sums of
squares (both have two parameters). The exponential's half-depth ln(2) / b, the depth over which the
fitted curve halves, measures the rate; its interval comes from a bootstrap over the seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_RATE = 1e-4
"""Lower bound of the fitted rates b and c (a flat curve has half-depth ln(2) / 1e-4, about 6900)."""


def exponential(depth: np.ndarray, a: float, b: float) -> np.ndarray:
    """a exp(-b L): Balduzzi et al.'s law for feedforward nets (2^-L is a = 1, b = ln 2)."""
    return a * np.exp(-b * depth)


def power(depth: np.ndarray, a: float, c: float) -> np.ndarray:
    """a L^-c: Balduzzi et al.'s law for resnets with BatchNorm (1/sqrt(L) is a = 1, c = 1/2)."""
    return a * np.power(depth, -c)


LAWS: dict[str, Callable[..., np.ndarray]] = {"exponential": exponential, "power": power}
"""The two laws fitted, by name; each takes (depth, a, rate)."""


def fit_law(law: str, depths: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Least-squares fit of `LAWS[law]` to ``values`` at ``depths``: ``a``, ``rate`` (b or c, at least
    `MIN_RATE`) and ``rss``, the residual sum of squares."""
    function = LAWS[law]
    with warnings.catch_warnings():  # the parameters' covariance, unused here, needs more depths than two
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, rate), _ = curve_fit(
            function, depths, values, p0=(1.0, 0.1), bounds=((0.0, MIN_RATE), (np.inf, np.inf)), maxfev=10_000
        )
    rss = float(np.sum((function(depths, a, rate) - values) ** 2))
    return {"a": float(a), "rate": float(rate), "rss": rss}


def half_depth(rate: float) -> float:
    """ln(2) / b: the depth over which a exp(-b L) halves."""
    return math.log(2) / rate


def fit_decay(depths: list[int], per_seed: np.ndarray, resamples: int, seed: int = 0) -> dict:
    """Both laws fitted to the mean over seeds of ``per_seed`` (seeds x depths), the better one (lower
    residual sum of squares), the exponential's half-depth and its 95% bootstrap percentile interval
    (``resamples`` resamplings of the seeds, each refitted)."""
    L = np.asarray(depths, dtype=np.float64)
    values = np.asarray(per_seed, dtype=np.float64)
    fits = {law: fit_law(law, L, values.mean(0)) for law in LAWS}
    rng = np.random.default_rng(seed)
    halves = [
        half_depth(fit_law("exponential", L, values[rng.integers(0, len(values), len(values))].mean(0))["rate"])
        for _ in range(resamples)
    ]
    return {
        **fits,
        "better": min(LAWS, key=lambda law: fits[law]["rss"]),
        "half_depth": half_depth(fits["exponential"]["rate"]),
        "half_depth_interval": [float(np.percentile(halves, 2.5)), float(np.percentile(halves, 97.5))],
    }
