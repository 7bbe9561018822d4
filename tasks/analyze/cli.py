"""`zoo analyze <study>|all [--quick] [--out DIR] [--data-path CIFAR_DIR] [--seed N] [--threads N]`:
run the studies that reproduce the residual-learning literature's claims (He et al. 2015 and 2016;
Veit et al. 2016; Balduzzi et al. 2017; Huang et al. 2017; Prince, "Understanding Deep Learning",
ch. 11). The measured logs of the studies are in the repository's docs/analyze.md.

Each study writes ``<out>/<study>/<study>.png`` and ``<study>.json``, logs a W&B run in the group
named after the run folder, and prints its verdict line. ``all`` runs `degradation` first: it
trains the nets of `tasks.analyze.training` that the next three studies reuse, so they train once.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import torch

from .common import AnalyzeRun

STUDIES = ("shattered", "variance", "degradation", "responses", "lesion", "paths", "bottleneck")
"""In the order `all` runs them (degradation trains the nets the next three inspect)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of `zoo analyze`."""
    parser = argparse.ArgumentParser(
        prog="zoo analyze",
        description="Reproduce the residual-learning papers' claims: each study writes a plot, a JSON of numbers "
        "and a W&B run, and prints whether the claim holds.",
    )
    parser.add_argument("study", choices=[*STUDIES, "all"], help="the study to run, or all of them")
    parser.add_argument(
        "--quick", action="store_true", help="reduced sizes: `all --quick` needs about 8 min of CPU (shattered: 1)"
    )
    parser.add_argument("--out", default="runs/analyze", help="run folder (default: runs/analyze)")
    parser.add_argument(
        "--data-path",
        default=None,
        help="a local CIFAR-10 python-pickle folder for the training studies (default: the built-in synthetic shapes)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every study")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for these small nets)"
    )
    args = parser.parse_args(argv)
    if args.data_path is not None and not Path(args.data_path).is_dir():
        parser.error(f"--data-path {args.data_path!r} is not a folder; give the folder holding cifar-10-batches-py")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def run_study(name: str, analyze: AnalyzeRun, quick: bool):
    """Run study ``name`` at its QUICK or FULL configuration; return its verdict."""
    module = importlib.import_module(f"tasks.analyze.{name}")
    return module.run(analyze, module.QUICK if quick else module.FULL)


def main(argv: list[str]) -> None:
    """Entry point of `zoo analyze` (called by `tasks.cli` with the arguments after "analyze")."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    analyze = AnalyzeRun(out=out, group=out.name, data_path=args.data_path, seed=args.seed)
    names = STUDIES if args.study == "all" else (args.study,)
    verdicts = {}
    for name in names:
        start = time.perf_counter()
        verdicts[name] = run_study(name, analyze, args.quick)
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s; plot and numbers in {out / name}", flush=True)
    if len(names) > 1:
        held = sum(v.holds for v in verdicts.values())
        print(
            f"{held}/{len(verdicts)} claims hold: "
            + ", ".join(f"{n} {'yes' if v.holds else 'no'}" for n, v in verdicts.items())
        )
