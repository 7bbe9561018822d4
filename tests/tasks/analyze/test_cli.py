"""Tests for tasks.analyze.cli: argument checks and one study run from the command line."""

from __future__ import annotations

import json

import pytest

from tasks.analyze import cli, shattered
from tasks.analyze.shattered import ShatteredConfig


def test_unknown_study_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["entropy"])
    assert "shattered" in capsys.readouterr().err


def test_a_missing_data_path_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["degradation", "--data-path", str(tmp_path / "nowhere")])
    assert "not a folder" in capsys.readouterr().err


def test_the_budget_is_quick_medium_or_full_and_quick_is_a_shorthand():
    assert cli.parse_args(["lesion"]).budget == "full"
    assert cli.parse_args(["lesion", "--budget", "medium"]).budget == "medium"
    assert cli.parse_args(["lesion", "--quick"]).budget == "quick"
    with pytest.raises(SystemExit):
        cli.parse_args(["lesion", "--budget", "huge"])


def test_quick_with_another_budget_is_refused(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["lesion", "--quick", "--budget", "medium"])
    assert "two budgets" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "config"), [(["--quick"], "QUICK"), (["--budget", "medium"], "MEDIUM")])
def test_zoo_analyze_runs_a_study_at_its_budget_into_the_out_folder(analyze_run, monkeypatch, capsys, flags, config):
    monkeypatch.setattr(
        shattered,
        config,
        ShatteredConfig(points=32, width=8, depths=(1, 2), seeds=2, lags=(1,), max_lag=3, init_depth=2, resamples=2),
    )
    out = analyze_run.out / "cli"
    cli.main(["shattered", *flags, "--out", str(out)])
    assert json.loads((out / "shattered" / "shattered.json").read_text())["config"]["points"] == 32
    assert (out / "shattered" / "shattered.png").is_file() and list((out / "wandb").glob("offline-run-*"))
    printed = capsys.readouterr().out
    assert "[shattered] HOLDS" in printed or "[shattered] DOES NOT HOLD" in printed
