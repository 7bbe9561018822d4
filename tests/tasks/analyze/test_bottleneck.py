"""Tests for tasks.analyze.bottleneck: block and model costs from the zoo's counters, and the verdict on them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from tasks.analyze.bottleneck import QUICK, BottleneckConfig, block_costs, model_costs, run, verdict


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
    record = json.loads((analyze_run.out / "bottleneck" / "bottleneck.json").read_text())
    numbers = record["numbers"]
    assert [row["width"] for row in numbers["blocks"]] == [16, 32]
    assert set(numbers["imagenet"]) == {"resnet18", "densenet121"}
    assert numbers["imagenet_dense_over_res_params"] == pytest.approx(
        numbers["imagenet"]["densenet121"]["params"] / numbers["imagenet"]["resnet18"]["params"]
    )
    summary = study_record(analyze_run, "bottleneck")["summary"]
    assert summary["cifar_dense_over_res_params"] == pytest.approx(numbers["cifar_dense_over_res_params"])
    assert record["verdict"] == asdict(verdict(numbers, config))  # the verdict on the numbers written


def _costs(ratios: list[tuple[float, float]], imagenet: float = 0.45, cifar: float = 0.5) -> dict:
    """Made-up ratios: (params, FLOPs) of the bottleneck over the basic block per width, and DenseNet
    over ResNet params per pair."""
    return {
        "blocks": [{"width": 64 * 2**i} for i in range(len(ratios))],
        "bottleneck_over_basic": [{"params": p, "gflops": g} for p, g in ratios],
        "imagenet_dense_over_res_params": imagenet,
        "cifar_dense_over_res_params": cifar,
    }


def test_verdict_holds_when_the_bottleneck_costs_a_basic_block_and_densenets_are_smaller():
    outcome = verdict(_costs([(1.0, 1.1), (0.9, 1.0)]), QUICK)
    assert outcome.holds
    assert outcome.measured == (
        "bottleneck/basic at w=64: params x1.00, FLOPs x1.10; densenet201/resnet101 params x0.45 "
        "(76.9 vs 77.4% top-1, quoted); densenet_bc100_k12/resnet110 params x0.50 (4.51 vs 6.41% C10+ error, quoted)"
    )


@pytest.mark.parametrize(
    "costs",
    [
        _costs([(1.0, 1.0), (1.2, 1.0)]),  # the bottleneck has more params at one width
        _costs([(1.0, 1.0), (0.8, 1.0)]),  # fewer params
        _costs([(1.0, 1.0), (1.0, 1.2)]),  # more FLOPs
        _costs([(1.0, 0.8), (1.0, 1.0)]),  # fewer FLOPs
        _costs([(1.0, 1.0)], imagenet=0.6),  # the ImageNet DenseNet is not far smaller
        _costs([(1.0, 1.0)], cifar=0.6),  # the CIFAR DenseNet is not far smaller
        _costs([(1.0, 1.0)], imagenet=1.5),
    ],
)
def test_verdict_does_not_hold_when_a_cost_is_off(costs):
    assert not verdict(costs, QUICK).holds
