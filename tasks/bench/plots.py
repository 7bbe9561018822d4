"""The bench's figures (matplotlib, Agg backend, PNG): the metric reached against GFLOPs per image,
one panel per task, and the inference and training throughput of every cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.ticker import NullFormatter  # noqa: E402


def plot_metric_vs_gflops(records: list[dict[str, Any]], path: Path) -> Path:
    """Scatter of each finished cell's metric against its GFLOPs per image (log scale), per task."""
    done = [r for r in records if r["status"] == "ok"]
    tasks = list(dict.fromkeys(r["task"] for r in records))
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.5 * max(len(tasks), 1), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=False):
        cells = [r for r in done if r["task"] == task]
        for r in cells:
            ax.scatter(r["gflops"], r["metric"], s=40)
            ax.annotate(r["name"], (r["gflops"], r["metric"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if cells:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a narrow range
        ax.set_xlabel("GFLOPs per image")
        ax.set_ylabel(cells[0]["metric_name"] if cells else "metric")
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_throughput(records: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars of inference and training images/s for each finished cell (log scale)."""
    done = [r for r in records if r["status"] == "ok"]
    labels = [r["cell"] for r in done]
    fig, ax = plt.subplots(figsize=(8, 1 + 0.4 * max(len(done), 1)))
    rows = range(len(done))
    ax.barh([y - 0.2 for y in rows], [r["infer_ips"] for r in done], height=0.4, label="inference")
    ax.barh([y + 0.2 for y in rows], [r["train_ips"] for r in done], height=0.4, label="training")
    ax.set_yticks(list(rows), labels, fontsize=8)
    ax.invert_yaxis()
    if done:
        ax.set_xscale("log")
    ax.set_xlabel("images/s")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(out_dir: Path, records: list[dict[str, Any]]) -> dict[str, Path]:
    """Both figures into ``out_dir``; returns their paths by name."""
    return {
        "metric_vs_gflops": plot_metric_vs_gflops(records, out_dir / "metric_vs_gflops.png"),
        "throughput": plot_throughput(records, out_dir / "throughput.png"),
    }
