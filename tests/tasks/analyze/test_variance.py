"""Tests for tasks.analyze.variance: the three growth laws of UDL fig. 11.6 on a small stack, and the verdict."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from tasks.analyze.variance import QUICK, VarianceConfig, measure, run, verdict

SMALL = VarianceConfig(blocks=16, channels=64, size=2, batch=16, repeats=2)


@pytest.fixture(scope="module")
def results():
    return measure(SMALL, seed=0)


def test_he_init_doubles_the_variance_per_block(results):
    assert results["he"]["log2_growth"] == pytest.approx(1.0, abs=0.15)
    assert results["he"]["variance"][-1] / results["he"]["variance"][0] > 2 ** (0.7 * SMALL.blocks)


def test_scaling_each_sum_by_inverse_sqrt2_keeps_the_variance_flat(results):
    assert results["scaled"]["growth_factor"] == pytest.approx(1.0, abs=0.1)
    assert results["he"]["growth_factor"] / results["scaled"]["growth_factor"] == pytest.approx(2.0, abs=0.25)


def test_batchnorm_in_the_branch_grows_the_variance_as_k_plus_1(results):
    bn = results["batchnorm"]
    assert bn["increment"] == pytest.approx(1.0, abs=0.25)
    assert bn["last_over_k_plus_1"] == pytest.approx(1.0, abs=0.25)
    assert len(bn["variance"]) == SMALL.blocks + 1


def test_run_writes_the_fits_and_a_verdict(analyze_run, study_record):
    config = VarianceConfig(blocks=6, channels=32, size=2, batch=8, repeats=1)
    outcome = run(analyze_run, config)
    record = json.loads((analyze_run.out / "variance" / "variance.json").read_text())
    assert set(record["numbers"]) == {"he", "scaled", "batchnorm"}
    assert len(record["numbers"]["he"]["variance"]) == 7
    assert (analyze_run.out / "variance" / "variance.png").is_file()
    summary = study_record(analyze_run, "variance")["summary"]
    assert summary["he/log2_growth"] == pytest.approx(record["numbers"]["he"]["log2_growth"])
    assert summary["verdict/holds"] == outcome.holds
    assert record["verdict"] == asdict(verdict(record["numbers"], config))  # the verdict on the numbers written


def _laws(he: float = 1.1, scaled: float = -0.1, increment: float = 0.8, last: float = 1.2) -> dict:
    """Made-up per-block laws; by default each within its tolerance, near its edge."""
    return {
        "he": {"growth_factor": 2**he, "log2_growth": he},
        "scaled": {"growth_factor": 2**scaled, "log2_growth": scaled},
        "batchnorm": {"increment": increment, "last_over_k_plus_1": last},
    }


def test_verdict_holds_when_each_stack_follows_its_law():
    assert verdict(_laws(he=1.0, scaled=0.0, increment=1.0, last=1.0), QUICK).holds
    outcome = verdict(_laws(), QUICK)
    assert outcome.holds
    assert outcome.measured == (
        "50 blocks: He x2.14/block (log2 1.10); scaled x0.93/block; BN +0.80/block, var(k)/(k+1) = 1.20 at k=50"
    )


@pytest.mark.parametrize(
    "law",
    [
        {"he": 1.2},  # He stack grows faster than x2
        {"he": 0.8},  # He stack grows slower than x2
        {"scaled": 0.15},  # scaled stack grows (at the tolerance)
        {"scaled": -0.2},  # scaled stack shrinks
        {"increment": 1.25},  # BN stack grows by more than 1 per block (at the tolerance)
        {"increment": 0.7},  # BN stack grows by less than 1 per block
        {"last": 1.3},  # BN stack ends above k + 1
        {"last": 0.75},  # BN stack ends below k + 1 (at the tolerance)
    ],
)
def test_verdict_does_not_hold_when_one_stack_breaks_its_law(law):
    assert not verdict(_laws(**law), QUICK).holds
