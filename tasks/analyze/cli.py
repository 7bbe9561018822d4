"""`zoo analyze <study>|all [--budget quick|medium|full] [--quick] [--out DIR] [--data-path CIFAR_DIR] [--seed N]
[--threads N]`:
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

BUDGETS = ("quick", "medium", "full")
"""Each study's configurations, named in capitals in its module."""

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
        "--budget",
        choices=BUDGETS,
        default=None,
        help="quick: reduced sizes, `all` in about 5 min; medium: the training studies' nets trained long enough "
        "to decide (degradation about 40 min on 2 cores, the rest as quick); full (the default): the papers' sizes, "
        "hours",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --budget quick")
    parser.add_argument("--out", default="runs/analyze", help="run folder (default: runs/analyze)")
    parser.add_argument(
        "--data-path",
        default=None,
        help="a local CIFAR-10 python-pickle folder for the training studies (default: the built-in synthetic shapes)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every study")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 at the quick budget, fastest for its small batches; else all cores)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.budget not in (None, "quick"):
        parser.error(f"--quick and --budget {args.budget} ask for two budgets; give one")
    args.budget = "quick" if args.quick else args.budget or "full"
    if args.data_path is not None and not Path(args.data_path).is_dir():
        parser.error(f"--data-path {args.data_path!r} is not a folder; give the folder holding cifar-10-batches-py")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def run_study(name: str, analyze: AnalyzeRun, budget: str):
    """Run study ``name`` at its configuration for ``budget`` (its QUICK, MEDIUM or FULL); return its verdict."""
    module = importlib.import_module(f"tasks.analyze.{name}")
    return module.run(analyze, getattr(module, budget.upper()))


def main(argv: list[str]) -> None:
    """Entry point of `zoo analyze` (called by `tasks.cli` with the arguments after "analyze")."""
    args = parse_args(argv)
    if args.threads or args.budget == "quick":
        torch.set_num_threads(args.threads or 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    analyze = AnalyzeRun(out=out, group=out.name, data_path=args.data_path, seed=args.seed)
    names = STUDIES if args.study == "all" else (args.study,)
    verdicts = {}
    for name in names:
        start = time.perf_counter()
        verdicts[name] = run_study(name, analyze, args.budget)
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s; plot and numbers in {out / name}", flush=True)
    if len(names) > 1:
        held = sum(v.holds for v in verdicts.values())
        print(
            f"{held}/{len(verdicts)} claims hold: "
            + ", ".join(f"{n} {'yes' if v.holds else 'no'}" for n, v in verdicts.items())
        )
