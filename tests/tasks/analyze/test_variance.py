"""Tests for tasks.analyze.variance: the three growth laws of UDL fig. 11.6 on a small stack."""

from __future__ import annotations

import json

import pytest

from tasks.analyze.variance import VarianceConfig, measure, run

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
    verdict = run(analyze_run, VarianceConfig(blocks=6, channels=32, size=2, batch=8, repeats=1))
    record = json.loads((analyze_run.out / "variance" / "variance.json").read_text())
    assert set(record["numbers"]) == {"he", "scaled", "batchnorm"}
    assert len(record["numbers"]["he"]["variance"]) == 7
    assert (analyze_run.out / "variance" / "variance.png").is_file()
    summary = study_record(analyze_run, "variance")["summary"]
    assert summary["he/log2_growth"] == pytest.approx(record["numbers"]["he"]["log2_growth"])
    assert summary["verdict/holds"] == verdict.holds
