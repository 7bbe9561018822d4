"""A whole bench: validate the preset, run its cells one after another with a progress display,
save each result the moment it is known, then write the leaderboard, the plots and a W&B summary.

The run folder holds everything needed to resume: ``preset.yaml`` (the preset's text) and
``bench.json`` (its name, switches and the folder relative data roots are taken from). ``--resume
DIR`` reads them back and runs only the cells without a result file, so no cell is ever run or
listed twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import wandb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tasks.bench.cell import run_cell
from tasks.bench.leaderboard import (
    COLUMNS,
    load_cells,
    markdown_table,
    save_cell,
    sort_records,
    write_atomic,
    write_leaderboard,
)
from tasks.bench.measure import Settings
from tasks.bench.plots import write_plots
from tasks.bench.preset import Preset, parse_preset
from tasks.wandb_setup import ZooWandbLogger

MANIFEST = "bench.json"
PRESET_FILE = "preset.yaml"


def new_run_dir(preset: Preset, root: str = "runs/bench") -> Path:
    """``<root>/<preset>-<UTC timestamp>``."""
    return Path(root) / f"{preset.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def start_bench(preset: Preset, settings: Settings, out_dir: Path) -> None:
    """Create a run folder with the preset and switches; refuse one that already holds a bench."""
    if (out_dir / MANIFEST).exists():
        raise FileExistsError(f"{out_dir} already holds a bench; continue it with --resume {out_dir} or pick --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / PRESET_FILE, preset.source)
    manifest = {"preset": preset.name, "settings": asdict(settings), "group": out_dir.name, "base": str(Path.cwd())}
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2))


def open_bench(out_dir: Path) -> tuple[Preset, Settings, str]:
    """The preset, switches and W&B group saved in a run folder, for ``--resume``."""
    if not (out_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{out_dir} is not a bench run folder (no {MANIFEST}); start one with --preset")
    manifest = json.loads((out_dir / MANIFEST).read_text())
    base = Path(manifest.get("base", Path.cwd()))  # relative roots stay those of the bench's start
    preset = parse_preset((out_dir / PRESET_FILE).read_text(), name=manifest["preset"], base=base)
    return preset, Settings(**manifest["settings"]), manifest["group"]


def run_bench(preset: Preset, settings: Settings, out_dir: Path, group: str, console: Console | None = None) -> list:
    """Run every cell of ``preset`` that has no result in ``out_dir`` yet; returns all records,
    sorted as in the leaderboard, after writing the leaderboard, plots and W&B summary."""
    console = console or Console()
    done = load_cells(out_dir)
    todo = [c for c in preset.cells if c.cell_id not in done]
    if done:
        console.print(f"[bold]Resuming[/] {out_dir}: {len(done)} cell(s) already finished, {len(todo)} to run")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("cells", total=len(preset.cells), completed=len(done))
        for cell in todo:
            progress.update(overall, description=f"cell {len(done) + 1}/{len(preset.cells)}: {cell.cell_id}")
            record = run_cell(cell, settings, preset.timing, out_dir, group, progress)
            save_cell(out_dir, cell.file_stem, record)
            done[cell.cell_id] = record
            status = "[green]ok[/]" if record["status"] == "ok" else f"[red]failed[/]: {record['error']}"
            metric = f" {record['metric_name']}={record['metric']:.3f}" if record["metric"] is not None else ""
            progress.console.print(f"{cell.cell_id}: {status}{metric} ({record['wall_s']:.0f} s)")
            progress.update(overall, advance=1)
    order = list(dict.fromkeys(c.task for c in preset.cells))
    records = sort_records([done[c.cell_id] for c in preset.cells if c.cell_id in done], order)
    write_leaderboard(out_dir, records)
    plots = write_plots(out_dir, records)
    log_summary(out_dir, group, records, plots)
    return records


def log_summary(out_dir: Path, group: str, records: list[dict[str, Any]], plots: dict[str, Path]) -> None:
    """One more W&B run in the bench's group: the leaderboard as a wandb.Table, and the plots."""
    logger = ZooWandbLogger(save_dir=str(out_dir), name="summary", group=group, job_type="bench-summary")
    run = logger.experiment
    table = wandb.Table(columns=list(COLUMNS), data=[[r.get(c) for c in COLUMNS] for r in records])
    run.log({"leaderboard": table, **{f"plots/{k}": wandb.Image(str(p)) for k, p in plots.items()}})
    run.summary.update({"bench/cells": len(records), "bench/failed": sum(r["status"] != "ok" for r in records)})
    run.finish()


def summary_text(records: list[dict[str, Any]], out_dir: Path) -> str:
    """The Markdown leaderboard and where the files are, printed at the end of a bench."""
    failed = sum(r["status"] != "ok" for r in records)
    tail = f"{len(records)} cells, {failed} failed. Leaderboard, plots and W&B runs in {out_dir}"
    return markdown_table(records) + "\n" + tail
