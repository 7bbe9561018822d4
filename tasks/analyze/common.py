"""What every `zoo analyze` study shares: the run folder, the verdict line, and writing a study's
plot (PNG), numbers (JSON) and W&B run (one run per study, grouped by the analyze run).

A study computes its numbers and a matplotlib figure; `finish_study` saves both under
``<out>/<study>/``, logs them to W&B (offline unless W&B is set up, see `tasks.wandb_setup`) and
prints the verdict: the paper's claim, the figure measured, and whether the claim holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from scipy import stats

matplotlib.use("Agg")  # plots go to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from tasks.wandb_setup import ZooWandbLogger  # noqa: E402

PLOT_DPI = 80
"""Small PNGs (tens of KB), fit to commit under docs/analyze/."""


@dataclass(frozen=True)
class Verdict:
    """A study's conclusion: the paper's ``claim``, the ``measured`` figure and whether it ``holds``."""

    claim: str
    measured: str
    holds: bool

    def line(self, study: str) -> str:
        """One printable line: ``[study] HOLDS|DOES NOT HOLD: claim -- measured``."""
        return f"[{study}] {'HOLDS' if self.holds else 'DOES NOT HOLD'}: {self.claim} -- measured: {self.measured}"


@dataclass(frozen=True)
class AnalyzeRun:
    """One `zoo analyze` invocation: its output folder, W&B group, data and seed.

    Attributes:
        out: the run folder; study ``s`` writes into ``out/s``.
        group: the W&B group of the study runs (default: the folder's name).
        data_path: a CIFAR-10 folder for the training-based studies (None: the synthetic set).
        seed: the seed of every study.
    """

    out: Path
    group: str
    data_path: str | None = None
    seed: int = 0

    def study_dir(self, study: str) -> Path:
        """``out/<study>``, created."""
        path = self.out / study
        path.mkdir(parents=True, exist_ok=True)
        return path


def mean_interval(values: Any, confidence: float = 0.95) -> dict[str, Any]:
    """The ``mean`` of independent runs (one value per seed) and its two-sided Student-t ``interval``
    at ``confidence``: what a study reports where one run's figure moves between seeds. Needs two
    values at least."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"an interval needs two runs at least, got {len(values)}")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values))
    return {"mean": mean, "interval": [mean - half, mean + half]}


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: dataclasses to dicts, tuples to lists, non-finite floats to None."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return _plain(value.item())
    return value


def scalars(numbers: dict, prefix: str = "") -> dict[str, float | int | bool | str]:
    """The scalar leaves of a nested dict, keyed ``a/b/c`` (what W&B's summary shows as columns)."""
    flat = {}
    for key, value in numbers.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(scalars(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
    return flat


def finish_study(run: AnalyzeRun, study: str, config: Any, numbers: dict, figure: plt.Figure, verdict: Verdict) -> Path:
    """Write ``<study>.png`` and ``<study>.json`` into the study's folder, log them to a W&B run
    named after the study in the analyze run's group, print the verdict line; return the folder.

    The JSON holds the config, the numbers and the verdict. The W&B run holds the config, the
    scalar numbers and the verdict in its summary, and the plot as a ``wandb.Image``.
    """
    folder = run.study_dir(study)
    png = folder / f"{study}.png"
    figure.savefig(png, dpi=PLOT_DPI, bbox_inches="tight")
    plt.close(figure)
    record = {"study": study, "config": _plain(config), "numbers": _plain(numbers), "verdict": _plain(verdict)}
    (folder / f"{study}.json").write_text(json.dumps(record, indent=2) + "\n")
    _log_wandb(run, study, record, png)
    print(verdict.line(study), flush=True)
    return folder


def _log_wandb(run: AnalyzeRun, study: str, record: dict, png: Path) -> None:
    """One W&B run per study through `ZooWandbLogger` (its mode, and its offline fallback when the
    server is unreachable)."""
    import wandb

    summary = {**scalars(record["numbers"]), **scalars({"verdict": record["verdict"]})}
    logger = ZooWandbLogger(
        save_dir=str(run.out),
        name=f"{run.group}/{study}",
        group=run.group,
        job_type="analyze",
        config={"study": study, **record["config"]},
    )
    experiment = logger.experiment
    try:
        experiment.log({"plot": wandb.Image(str(png), caption=record["verdict"]["claim"]), **summary})
        experiment.summary.update(summary)
    finally:
        experiment.finish()
