"""Tests for tasks.analyze.common: the verdict line, flattening numbers, and a study's outputs
(PNG, JSON, W&B run read back offline)."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tasks.analyze.common import Verdict, finish_study, mean_interval, scalars


def test_verdict_line_names_study_claim_figure_and_outcome():
    line = Verdict(claim="x doubles", measured="x2.01", holds=True).line("variance")
    assert line.startswith("[variance] HOLDS:") and "x doubles" in line and "x2.01" in line
    assert "DOES NOT HOLD" in Verdict("c", "m", False).line("s")


def test_scalars_flattens_nested_numbers_and_drops_lists():
    flat = scalars({"a": {"b": 1.5, "c": [1, 2]}, "d": True, "e": "text"})
    assert flat == {"a/b": 1.5, "d": True, "e": "text"}


def test_finish_study_writes_png_json_and_a_wandb_run(analyze_run, study_record):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    numbers = {"slope": -1.0, "curve": [1.0, 0.0], "nan": math.nan, "nested": {"k": 3}}
    verdict = Verdict("it falls", "slope -1", True)
    folder = finish_study(analyze_run, "demo", {"size": 2}, numbers, fig, verdict)

    png = folder / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 100_000
    record = json.loads((folder / "demo.json").read_text())
    assert record["numbers"]["nan"] is None  # strict JSON
    assert record["config"] == {"size": 2} and record["verdict"]["holds"] is True

    logged = study_record(analyze_run, "demo")
    assert logged["config"]["size"] == 2 and logged["config"]["study"] == "demo"
    assert logged["summary"]["slope"] == -1.0 and logged["summary"]["nested/k"] == 3
    assert logged["summary"]["verdict/holds"] is True
    assert any(row.get("plot._type") == "image-file" for row in logged["history"])


def test_mean_interval_covers_the_true_mean_in_95_percent_of_samples():
    rng = np.random.default_rng(0)
    covered = [
        low <= 0.3 <= high for low, high in (mean_interval(rng.normal(0.3, 1.0, 16))["interval"] for _ in range(2000))
    ]
    assert 0.93 < np.mean(covered) < 0.97
    assert mean_interval([1.0, 2.0, 3.0])["mean"] == 2.0


def test_mean_interval_refuses_a_single_run():
    with pytest.raises(ValueError, match="two runs"):
        mean_interval([0.5])
