"""Train every family x task config on its synthetic set and print the README's learning table:
config, budget, wall time and the held-out metric reached (the last validation epoch).

    .venv/bin/python benchmarks/learning_table.py [--configs configs/pose/*.yaml] [--out runs/learning]

Each config runs as its own `zoo fit` process, so the wall time includes start-up and validation.
"""

from __future__ import annotations

import argparse
import csv
import glob
import subprocess
import sys
import time
from pathlib import Path

import yaml

METRIC = {"classification": "val/acc1", "segmentation": "val/miou", "pose": "val/pck"}


def last_value(metrics_csv: Path, key: str) -> float:
    """The last logged value of ``key`` in a Lightning CSV log."""
    with metrics_csv.open() as f:
        values = [float(row[key]) for row in csv.DictReader(f) if row.get(key)]
    return values[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=sorted(glob.glob("configs/*/*.yaml")))
    parser.add_argument("--out", default="runs/learning")
    args = parser.parse_args()
    zoo = str(Path(sys.executable).with_name("zoo"))
    rows = ["| config | model | budget | wall time | held-out metric |", "|---|---|---|---:|---:|"]
    for config in args.configs:
        task = Path(config).parent.name
        spec = yaml.safe_load(Path(config).read_text())
        root = Path(args.out) / task / Path(config).stem
        start = time.time()
        subprocess.run(
            [zoo, "fit", "--config", config, "--trainer.default_root_dir", str(root)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.time() - start
        key = METRIC[task]
        value = last_value(sorted(root.glob("csv/version_*/metrics.csv"))[-1], key)
        data = spec["data"]["init_args"]
        budget = (
            f"{spec['trainer']['max_epochs']} epochs x {data['train_size']} images "
            f"({data['image_size']} px, batch {data['batch_size']})"
        )
        model = spec["model"]["init_args"]["model"]
        rows.append(f"| {config} | {model} | {budget} | {wall / 60:.1f} min | {key} = {value:.3f} |")
        print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
