"""Shared fixtures of the `zoo analyze` tests: an analyze run in a temporary folder with offline W&B,
one tiny set of trained nets for the training-based studies, and reading a study's W&B run back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.analyze.common import AnalyzeRun
from tasks.analyze.training import TrainConfig
from tasks.wandb_records import read_run, wait_closed

TINY_NETS = TrainConfig(
    image_size=16, widths=(4, 8, 8), steps=4, batch_size=16, warmup_steps=1, train_size=48, val_size=32
)
"""The four nets at a size that trains in seconds: enough to check shapes, not the claims."""


def _offline(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        mp.setenv(name, str(root / "wandb-home"))


@pytest.fixture
def analyze_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AnalyzeRun:
    """An analyze run writing into a fresh folder, W&B offline."""
    _offline(monkeypatch, tmp_path)
    return AnalyzeRun(out=tmp_path / "analyze", group="test-analyze")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> AnalyzeRun:
    """An analyze run whose degradation study has trained the four tiny nets (once per session)."""
    from tasks.analyze import degradation

    root = tmp_path_factory.mktemp("trained")
    mp = pytest.MonkeyPatch()
    _offline(mp, root)
    try:
        run = AnalyzeRun(out=root / "analyze", group="test-trained")
        degradation.run(run, TINY_NETS)
    finally:
        mp.undo()
    return run


@pytest.fixture
def study_record() -> Callable[[AnalyzeRun, str], dict]:
    """Read the offline W&B run of a study back (config, history, summary), once wandb has closed it."""

    def read(run: AnalyzeRun, study: str, timeout: float = 60.0) -> dict:
        for run_dir in sorted((run.out / "wandb").glob("offline-run-*")):
            wait_closed(run_dir, timeout)
            record = read_run(run_dir)
            if record["config"].get("study") == study:
                return record
        raise AssertionError(f"no W&B run of study {study!r} under {run.out / 'wandb'}")

    return read
