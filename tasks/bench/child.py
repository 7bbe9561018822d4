"""``python -m tasks.bench.child JOB RECORD``: one bench cell on several processes, in a process of its
own (`tasks.bench.cell.run_in_child` starts it). JOB is the JSON of the cell, the bench's switches,
timing, folder and W&B group; rank 0 writes the cell's record to RECORD, atomically. Lightning's DDP
launcher starts the other ranks by re-running this command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lightning_fabric.utilities.rank_zero import rank_zero_only

from tasks.bench.cell import run_cell
from tasks.bench.leaderboard import write_atomic
from tasks.bench.measure import Settings
from tasks.bench.preset import Cell


def main(argv: list[str]) -> None:
    job_file, record_file = (Path(arg) for arg in argv)
    job = json.loads(job_file.read_text())
    cell, settings = Cell(**job["cell"]), Settings(**job["settings"])
    record = run_cell(cell, settings, job["timing"], Path(job["out_dir"]), job["group"], in_child=True)
    if rank_zero_only.rank == 0:
        write_atomic(record_file, json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1:])
