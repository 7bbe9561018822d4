"""The bench's results on disk: one JSON file per finished cell, written atomically the moment the
cell ends, and the leaderboard (CSV, Markdown, JSON) built from those files.

Atomic means temp file, fsync, `os.replace`: a bench killed at any instant (Ctrl-C, kill -9, power)
leaves each cell file either complete or absent, never half-written, so ``--resume`` can trust
every file it finds.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from zoo.atomic import write_atomic as write_file
from zoo.summary import markdown

COLUMNS = (
    "task",
    "name",
    "model",
    "status",
    "metric_name",
    "metric",
    "params",
    "gflops",
    "infer_ips",
    "train_ips",
    "peak_mem_mb",
    "wall_s",
    "steps",
    "budget",
    "image_size",
    "batch_size",
    "devices",
    "source",
    "root",
    "error",
)
"""The leaderboard's columns, in order."""

CELLS_DIR = "cells"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old file or the new one, nothing between."""
    write_file(path, lambda file: file.write(text.encode()))


def save_cell(out_dir: Path, file_stem: str, record: dict[str, Any]) -> Path:
    """Write one finished cell's record to ``<out_dir>/cells/<file_stem>.json``."""
    path = out_dir / CELLS_DIR / f"{file_stem}.json"
    write_atomic(path, json.dumps(record, indent=2))
    return path


def load_cells(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The finished cells' records in a run folder, by cell id."""
    records = {}
    for path in sorted((out_dir / CELLS_DIR).glob("*.json")):
        record = json.loads(path.read_text())
        records[record["cell"]] = record
    return records


def sort_records(records: list[dict[str, Any]], task_order: list[str]) -> list[dict[str, Any]]:
    """By task (in preset order), finished cells first, then the metric, best first."""

    def key(r: dict[str, Any]) -> tuple:
        order = task_order.index(r["task"]) if r["task"] in task_order else len(task_order)
        return order, r["status"] != "ok", -(r["metric"] if r["metric"] is not None else float("-inf"))

    return sorted(records, key=key)


def _fmt(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "params":
        return f"{value / 1e6:.2f}M"
    if column == "metric":
        return f"{value:.3f}"
    if column == "gflops":
        return f"{value:.3f}"
    if column in ("infer_ips", "train_ips", "peak_mem_mb", "wall_s"):
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return str(value).replace("|", "\\|")


MD_COLUMNS = {
    "task": "task",
    "name": "cell",
    "data": "data",
    "metric_name": "metric",
    "metric": "value",
    "params": "params",
    "gflops": "GFLOPs/img",
    "infer_ips": "infer img/s",
    "train_ips": "train img/s",
    "peak_mem_mb": "peak MB",
    "wall_s": "wall s",
    "budget": "budget",
    "status": "status",
}


def data_label(record: dict[str, Any]) -> str:
    """Which data a cell used, in a few words: ``synthetic``, or the source and the root folder."""
    source, root = record.get("source") or "synthetic", record.get("root")
    return f"{source} {root}" if root else source


def markdown_table(records: list[dict[str, Any]]) -> str:
    """The leaderboard as a Markdown table; a failed cell shows its error in the status column."""
    numeric = {"metric", "params", "gflops", "infer_ips", "train_ips", "peak_mem_mb", "wall_s"}
    rows = []
    for r in records:
        cells = []
        for column in MD_COLUMNS:
            text = _fmt(column, data_label(r) if column == "data" else r.get(column))
            if column == "status" and r["status"] != "ok":
                text = f"{r['status']}: {_fmt('error', r.get('error'))}"
            if column == "metric_name" and text:
                text = text.removeprefix("val/")
            cells.append(text)
        rows.append(cells)
    right = frozenset(i for i, column in enumerate(MD_COLUMNS) if column in numeric)
    return markdown(list(MD_COLUMNS.values()), rows, right)


def write_leaderboard(out_dir: Path, records: list[dict[str, Any]]) -> dict[str, Path]:
    """Write leaderboard.csv, .md and .json into ``out_dir``; returns their paths by suffix."""
    rows = [{c: r.get(c) for c in COLUMNS} for r in records]
    paths = {s: out_dir / f"leaderboard.{s}" for s in ("csv", "md", "json")}
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(paths["csv"], text.getvalue())
    write_atomic(paths["md"], markdown_table(records))
    write_atomic(paths["json"], json.dumps(rows, indent=2))
    return paths
