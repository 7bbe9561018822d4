"""A whole bench: validate the preset, run its cells one after another with a progress display,
save each result the moment it is known, then write the leaderboard, the plots and a W&B summary.

The run folder holds everything needed to resume: ``preset.yaml`` (the preset's text) and
``bench.json`` (its name, switches and the folder relative data roots are taken from). ``--resume
DIR`` reads them back and runs only the cells without a result file, so no cell is ever run or
listed twice.

Shards (``--shard K/N``) split the cells by index (cell i belongs to shard i mod N) between processes
that may run at once, on one machine or many sharing the folder: each cell's result is its own file,
written atomically, and no lock is held while a cell runs. The shard that finds every cell finished
builds the leaderboard (one shard claims it, by creating ``merged`` exclusively); ``zoo bench --merge
DIR`` builds it at any time from the results there.
"""

from __future__ import annotations

import json
import os
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
MERGED = "merged"
STARTING = ".starting"
STARTING_WAIT = 60


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N) with 0 <= K < N; anything else raises ValueError saying the form."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: write K/N, e.g. 0/4 for the first of 4 shards") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text!r}: K counts from 0 and must be below N (0/{count} to {count - 1}/{count})")
    return index, count


def new_run_dir(preset: Preset, root: str = "runs/bench") -> Path:
    """``<root>/<preset>-<UTC timestamp>``."""
    return Path(root) / f"{preset.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def start_bench(preset: Preset, settings: Settings, out_dir: Path, shared: bool = False) -> None:
    """Create a run folder with the preset and switches. A folder that already holds a bench is refused,
    unless `shared` (a shard joining the others), which needs the same preset and switches. Of shards
    starting at once, the one that creates ``.starting`` exclusively writes the folder; the others
    wait for its manifest (at most `STARTING_WAIT` seconds)."""
    if not (out_dir / MANIFEST).exists() and shared:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not _create_exclusively(out_dir / STARTING):
            deadline = time.monotonic() + STARTING_WAIT
            while not (out_dir / MANIFEST).exists():
                if time.monotonic() > deadline:
                    raise FileExistsError(
                        f"{out_dir / STARTING} exists but no {MANIFEST} appeared in {STARTING_WAIT} s: a shard died "
                        f"while starting the bench; remove {out_dir / STARTING} and start the shards again"
                    )
                time.sleep(0.1)
    if (out_dir / MANIFEST).exists():
        if not shared:
            raise FileExistsError(
                f"{out_dir} already holds a bench; continue it with --resume {out_dir}, join it as a shard with "
                "--shard K/N, or pick --out"
            )
        _, saved, _ = open_bench(out_dir)
        if (out_dir / PRESET_FILE).read_text() != preset.source or saved != settings:
            raise ValueError(
                f"{out_dir} holds a bench of another preset or other switches: give every shard the same "
                "--preset and switches, or another --out"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / PRESET_FILE, preset.source)
    manifest = {"preset": preset.name, "settings": asdict(settings), "group": out_dir.name, "base": str(Path.cwd())}
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2))
    (out_dir / STARTING).unlink(missing_ok=True)


def open_bench(out_dir: Path) -> tuple[Preset, Settings, str]:
    """The preset, switches and W&B group saved in a run folder, for ``--resume``."""
    if not (out_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{out_dir} is not a bench run folder (no {MANIFEST}); start one with --preset")
    manifest = json.loads((out_dir / MANIFEST).read_text())
    base = Path(manifest.get("base", Path.cwd()))  # relative roots stay those of the bench's start
    preset = parse_preset((out_dir / PRESET_FILE).read_text(), name=manifest["preset"], base=base)
    return preset, Settings(**manifest["settings"]), manifest["group"]


def run_bench(
    preset: Preset,
    settings: Settings,
    out_dir: Path,
    group: str,
    console: Console | None = None,
    shard: tuple[int, int] | None = None,
) -> list[dict[str, Any]] | None:
    """Run every cell of ``preset`` (of `shard` (K, N): those whose index mod N is K) that has no
    result in ``out_dir`` yet, then build the leaderboard, plots and W&B summary (`merge_bench`) and
    return its records. A shard builds them only when every cell of the bench is finished and no
    other shard has claimed them; otherwise it returns None."""
    console = console or Console()
    done = load_cells(out_dir)
    mine = [c for i, c in enumerate(preset.cells) if shard is None or i % shard[1] == shard[0]]
    todo = [c for c in mine if c.cell_id not in done]
    finished = len(mine) - len(todo)
    if finished:
        console.print(f"[bold]Resuming[/] {out_dir}: {finished} cell(s) already finished, {len(todo)} to run")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("cells", total=len(mine), completed=finished)
        for number, cell in enumerate(todo, start=finished + 1):
            progress.update(overall, description=f"cell {number}/{len(mine)}: {cell.cell_id}")
            record = run_cell(cell, settings, preset.timing, out_dir, group, progress)
            save_cell(out_dir, cell.file_stem, record)
            status = "[green]ok[/]" if record["status"] == "ok" else f"[red]failed[/]: {record['error']}"
            metric = f" {record['metric_name']}={record['metric']:.3f}" if record["metric"] is not None else ""
            progress.console.print(f"{cell.cell_id}: {status}{metric} ({record['wall_s']:.0f} s)")
            progress.update(overall, advance=1)
    if shard is not None:
        bench_done = len(load_cells(out_dir).keys() & {c.cell_id for c in preset.cells})
        if bench_done < len(preset.cells) or not _create_exclusively(out_dir / MERGED):
            console.print(
                f"shard {shard[0]}/{shard[1]}: its {len(mine)} cell(s) are finished; {bench_done} of the bench's "
                f"{len(preset.cells)} so far. The last shard to finish builds the leaderboard, or run "
                f"`zoo bench --merge {out_dir}`."
            )
            return None
    return merge_bench(preset, out_dir, group, console)


def _create_exclusively(path: Path) -> bool:
    """Create an empty `path` unless it exists (exclusive creation, atomic on POSIX and NFS v3+); True
    for the one process that created it."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def merge_bench(preset: Preset, out_dir: Path, group: str, console: Console | None = None) -> list[dict[str, Any]]:
    """The leaderboard, plots and W&B summary of the cells finished in ``out_dir``; returns the records,
    sorted as in the leaderboard. Cells still missing are named, and left out."""
    done = load_cells(out_dir)
    missing = [c.cell_id for c in preset.cells if c.cell_id not in done]
    if missing:
        (console or Console()).print(f"[yellow]{len(missing)} cell(s) not finished yet[/]: {', '.join(missing)}")
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
