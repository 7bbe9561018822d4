"""The `zoo` command. It parses arguments and calls the library; the work happens in `zoo` and
`tasks`.

    zoo fit|validate|test|predict --config <task>/<family> (built-in) or a YAML path [--key value ...]
    zoo configs
    zoo models [--pattern GLOB] [--flops] [--compat]
    zoo bench --preset quick|standard|<file> [...]
    zoo analyze <study>|all [--budget quick|medium|full]
    zoo export <checkpoint> <out.safetensors|.onnx|.pt2>
    zoo infer <model.onnx> <images>

The training subcommands are Lightning's `LightningCLI` (overrides on the command line,
``--print_config``) with archzoo's defaults (`tasks.lightning_cli.ZooCLI`); ``--config`` takes a
built-in config's name (`zoo configs` lists them) as well as a path. Every subcommand's module is
imported only when it is called, so ``zoo models`` or ``zoo configs`` does not pay for Lightning.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from zoo.allocator import keep_freed_memory

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def _configs(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="zoo configs", description="The built-in configs: `--config <name>` and `zoo bench --preset <name>`."
    )
    parser.parse_args(argv)
    from tasks.config_files import config_root, describe, list_configs
    from zoo.summary import markdown

    rows = [[f"`{name}`", describe(name)] for name in list_configs()]
    print(markdown(["name", "what it is"], rows).rstrip("\n"))
    print(f"\nfiles in {config_root()}")


def _models(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="zoo models", description="The table of registered models.")
    parser.add_argument("--pattern", default="*", help="glob on model names, e.g. 'resnet*'")
    parser.add_argument("--flops", action="store_true", help="add the GFLOPs at each model's native input size")
    parser.add_argument(
        "--compat", action="store_true", help="which models torch.export, torch.compile and ONNX handle (measured)"
    )
    args = parser.parse_args(argv)
    if args.compat:
        from zoo.compat import compat_table

        print(compat_table())
        return
    from zoo.summary import model_table

    print(model_table(args.pattern, flops=args.flops))


# Subcommands other than Lightning's: name -> "module:function", imported only when called so
# `zoo fit` does not pay for them. Each function takes the remaining argv.
COMMANDS = {
    "models": "tasks.cli:_models",
    "configs": "tasks.cli:_configs",
    "bench": "tasks.bench.cli:main",
    "analyze": "tasks.analyze.cli:main",
    "export": "tasks.export:main",
    "infer": "tasks.infer:main",
}


def _run_command(name: str, argv: list[str]) -> None:
    module, function = COMMANDS[name].split(":")
    getattr(importlib.import_module(module), function)(argv)


def _builtin_configs(argv: list[str]) -> list[str]:
    """``--config NAME`` (or ``-c``, ``--config=``) -> the path of the built-in config NAME when NAME is no
    file (`tasks.config_files.find_config`), so ``--config classification/resnet`` works from any folder."""
    from tasks.config_files import find_config

    args = list(argv)
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            args[i + 1] = str(find_config(args[i + 1]))
        elif arg.startswith("--config="):
            args[i] = f"--config={find_config(arg.partition('=')[2])}"
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `zoo` console script."""
    keep_freed_memory()
    from_console = argv is None
    argv = sys.argv[1:] if from_console else argv
    if argv and argv[0] in COMMANDS:
        _run_command(argv[0], argv[1:])
    elif argv and argv[0] in LIGHTNING_COMMANDS or any(a in ("-h", "--help") for a in argv[:1]):
        try:
            args = _builtin_configs(argv)
        except FileNotFoundError as error:
            sys.exit(f"zoo {argv[0]}: {error}")
        if from_console:
            sys.argv[1:] = args  # LightningCLI reads the command line itself (and warns about an args list)
        from tasks.lightning_cli import ZooCLI

        ZooCLI(args=None if from_console else args)
    else:
        commands = ", ".join([*LIGHTNING_COMMANDS, *COMMANDS])
        sys.exit(
            f"usage: zoo {{{commands}}} ...\n`zoo fit --config classification/resnet` trains (`zoo configs` "
            "lists the built-in configs); `zoo models` lists the models; `zoo <command> --help` shows the options."
        )


if __name__ == "__main__":
    main()
