"""Tests for tasks.analyze.bottleneck: block and model costs from the zoo's counters."""

from __future__ import annotations

import json

import pytest

from tasks.analyze.bottleneck import BottleneckConfig, block_costs, model_costs, run


def test_block_costs_count_the_convs_and_norms_of_each_design():
    (row,) = block_costs(BottleneckConfig(widths=(64,), size=8))
    assert row["basic"]["params"] == 2 * 9 * 64 * 64 + 2 * 2 * 64
    assert row["bottleneck_4x_out"]["params"] == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)
    assert row["bottleneck_4x_out"]["gflops"] == pytest.approx(
        2 * 8 * 8 * (256 * 64 + 9 * 64 * 64 + 64 * 256) / 1e9, rel=0.01
    )


def test_model_costs_match_the_registry_counts():
    costs = model_costs(["resnet20", "densenet40_k12"])
    assert costs["resnet20"]["params"] == 269_722  # He et al. 2015: 0.27M (shortcut A: no projections)
    assert 1.0e6 < costs["densenet40_k12"]["params"] < 1.1e6  # Huang et al. 2017: 1.0M


def test_run_writes_costs_and_ratios(analyze_run, study_record):
    config = BottleneckConfig(
        widths=(16, 32),
        size=4,
        imagenet=("resnet18", "densenet121"),
        cifar=("resnet56", "densenet40_k12"),
        imagenet_pair=("densenet121", "resnet18"),
        cifar_pair=("densenet40_k12", "resnet56"),
    )
    run(analyze_run, config)
    numbers = json.loads((analyze_run.out / "bottleneck" / "bottleneck.json").read_text())["numbers"]
    assert [row["width"] for row in numbers["blocks"]] == [16, 32]
    assert set(numbers["imagenet"]) == {"resnet18", "densenet121"}
    assert numbers["imagenet_dense_over_res_params"] == pytest.approx(
        numbers["imagenet"]["densenet121"]["params"] / numbers["imagenet"]["resnet18"]["params"]
    )
    summary = study_record(analyze_run, "bottleneck")["summary"]
    assert summary["cifar_dense_over_res_params"] == pytest.approx(numbers["cifar_dense_over_res_params"])
