"""Cell files are written atomically and read back; the leaderboard shows failed cells with their error."""

import json
from pathlib import Path

from tasks.bench.leaderboard import load_cells, markdown_table, save_cell, sort_records, write_atomic


def _record(cell: str, status: str = "ok", metric: float | None = 0.5, error: str | None = None) -> dict:
    task, name = cell.split("/")
    return {
        "cell": cell,
        "task": task,
        "name": name,
        "status": status,
        "metric_name": "val/acc1",
        "metric": metric,
        "error": error,
    }


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    write_atomic(path, "old")
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_saved_cells_load_back_by_id(tmp_path: Path) -> None:
    save_cell(tmp_path, "classification__a", _record("classification/a"))
    save_cell(tmp_path, "pose__b", _record("pose/b", "failed", None, "FloatingPointError: nan"))
    cells = load_cells(tmp_path)
    assert set(cells) == {"classification/a", "pose/b"}
    assert json.loads((tmp_path / "cells" / "pose__b.json").read_text())["error"] == "FloatingPointError: nan"


def test_sorting_and_markdown_put_failed_cells_last_with_their_error() -> None:
    records = [
        _record("pose/x", metric=0.9),
        _record("classification/bad", "failed", None, "RuntimeError: out of memory | big"),
        _record("classification/low", metric=0.2),
        _record("classification/high", metric=0.8),
    ]
    ordered = sort_records(records, ["classification", "pose"])
    assert [r["cell"] for r in ordered] == ["classification/high", "classification/low", "classification/bad", "pose/x"]
    lines = markdown_table(ordered).splitlines()
    assert len(lines) == 2 + len(records)
    assert all(line.count(" | ") == lines[0].count(" | ") for line in lines[2:])
    assert "failed: RuntimeError: out of memory \\| big" in lines[4]
