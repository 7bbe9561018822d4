"""`zoo bench`: the multi-task benchmark, and with ``--reference`` the speed table against
torchvision and timm. This module only parses arguments; `tasks.bench.runner` and
`tasks.bench.reference` do the work.

    zoo bench --preset quick                        # configs/bench/quick.yaml -> runs/bench/quick-<time>
    zoo bench --preset my.yaml --out runs/bench/x   # any preset file, a chosen folder
    zoo bench --resume runs/bench/quick-<time>      # finish an interrupted bench
    zoo bench --preset quick --out DIR --shard 0/4  # this process's quarter of the cells (0/4 ... 3/4)
    zoo bench --merge DIR                           # the leaderboard of the cells finished in DIR
    zoo bench --reference                           # zoo/torchvision speed ratios
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console


def build_parser() -> argparse.ArgumentParser:
    """The options of `zoo bench`."""
    parser = argparse.ArgumentParser(prog="zoo bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", help="quick, standard (configs/bench/<name>.yaml) or a path to a preset YAML")
    parser.add_argument("--out", help="run folder (default: runs/bench/<preset>-<UTC time>)")
    parser.add_argument("--resume", metavar="DIR", help="continue the bench in DIR: run only its unfinished cells")
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the cells whose index mod N is K (K from 0); shards share --out and may run at once",
    )
    parser.add_argument("--merge", metavar="DIR", help="build the leaderboard, plots and W&B summary of DIR's cells")
    parser.add_argument("--reference", action="store_true", help="time zoo vs torchvision/timm and print the ratios")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="32", choices=("32", "bf16-mixed", "16-mixed"))
    parser.add_argument("--channels-last", action="store_true", help="NHWC weights and inputs")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--batch-size", type=int, help="override every cell's batch size (reference: default 8)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 helps on a busy machine)")
    ref = parser.add_argument_group("--reference options")
    ref.add_argument("--models", nargs="+", help="zoo models to compare (default: resnet18 resnet50 densenet121)")
    ref.add_argument("--image-size", type=int, default=224, help="input side (default 224)")
    ref.add_argument("--warmup", type=int, default=2, help="untimed steps before each measurement")
    ref.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="timed steps per measurement (median); models: rounds x repeats single steps in turns; Lightning: 3x",
    )
    ref.add_argument("--rounds", type=int, default=3, help="alternating zoo/reference rounds (median of ratios)")
    ref.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("timm", "fast", "memory", "lightning", "data"),
        help="sections to leave out",
    )
    return parser


def main(argv: list[str]) -> None:
    """Entry point of `zoo bench` (``argv``: the arguments after ``bench``)."""
    args = build_parser().parse_args(argv)
    console = Console()
    if args.threads is not None:
        if args.threads < 1:
            sys.exit(f"zoo bench: --threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if args.reference:
        from tasks.bench.reference import ReferenceConfig, run_reference

        config = ReferenceConfig(
            models=tuple(args.models or ReferenceConfig.models),
            batch_size=args.batch_size or 8,
            image_size=args.image_size,
            warmup=args.warmup,
            repeats=args.repeats,
            rounds=args.rounds,
            channels_last_fast_path=True,
            compile_fast_path=args.compile,
            skip=tuple(args.skip),
        )
        try:
            run_reference(config, console)
        except (KeyError, ValueError) as err:
            sys.exit(f"zoo bench --reference: {err.args[0]}")
        return
    from tasks.bench.measure import Settings
    from tasks.bench.preset import PresetError, load_preset
    from tasks.bench.runner import (
        merge_bench,
        new_run_dir,
        open_bench,
        parse_shard,
        run_bench,
        start_bench,
        summary_text,
    )

    try:
        shard = parse_shard(args.shard) if args.shard else None
        if args.merge:
            if args.preset or args.out or args.resume or args.shard:
                sys.exit("--merge DIR builds the leaderboard of the bench saved in DIR: use it alone")
            out_dir = Path(args.merge)
            preset, _, group = open_bench(out_dir)
            print(summary_text(merge_bench(preset, out_dir, group, console), out_dir))
            return
        if args.resume:
            if args.preset or args.out:
                sys.exit("--resume DIR continues the bench saved in DIR: leave out --preset and --out")
            out_dir = Path(args.resume)
            preset, settings, group = open_bench(out_dir)
        else:
            if not args.preset:
                sys.exit("zoo bench needs --preset quick|standard|<file>, --resume DIR, --merge DIR or --reference")
            if shard and not args.out:
                sys.exit("--shard needs --out DIR: every shard of a bench writes into the same folder")
            settings = Settings(args.device, args.precision, args.channels_last, args.compile, args.batch_size)
            preset = load_preset(args.preset)
            out_dir = Path(args.out) if args.out else new_run_dir(preset)
            group = out_dir.name
            start_bench(preset, settings, out_dir, shared=shard is not None)
    except (PresetError, ValueError, FileExistsError, FileNotFoundError) as err:
        sys.exit(f"zoo bench: {err}")
    records = run_bench(preset, settings, out_dir, group, console, shard)
    if records is not None:
        print(summary_text(records, out_dir))
