"""The `zoo` command. It parses arguments and calls the library; the work happens in `zoo` and
`tasks`.

    zoo fit|validate|test|predict --config configs/<task>/<model>.yaml [--key value ...]
    zoo models [--pattern GLOB]
    zoo bench --preset quick|standard|<file> [...]
    zoo analyze <study>|all [--quick]
    zoo export <checkpoint> <out.safetensors>

The training subcommands are Lightning's `LightningCLI` (overrides on the command line,
``--print_config``), with archzoo's defaults: a W&B logger (offline unless W&B is set up) plus a
local CSV of metrics, ``best``/``last`` checkpoints under ``<default_root_dir>/checkpoints``, a
model summary with GFLOPs, a seed, and `zoo predict` writing ``predictions.safetensors`` into the
run folder.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytorch_lightning as pl
from jsonargparse import Namespace
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI

from zoo.allocator import keep_freed_memory

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
DEFAULT_ROOT = "runs/default"


def _checkpoint_dir(root: str | None) -> str:
    return str(Path(root or DEFAULT_ROOT) / "checkpoints")


class ZooCLI(LightningCLI):
    """LightningCLI over any `tasks.ZooTask` and any data module, configured by YAML."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        from tasks.base import ZooTask
        from tasks.callbacks import ModelStats
        from tasks.prediction import PredictionWriter

        super().__init__(
            ZooTask,
            pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": DEFAULT_ROOT, "callbacks": [ModelStats(), PredictionWriter()]},
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        from tasks.callbacks import ZooCheckpoint

        parser.add_lightning_class_args(ZooCheckpoint, "checkpoint")
        parser.link_arguments("trainer.default_root_dir", "checkpoint.dirpath", compute_fn=_checkpoint_dir)
        parser.add_argument("--wandb_project", default="archzoo", help="W&B project of the default logger")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse, then refuse a ``--ckpt_path`` file that would run code when unpickled, naming the file,
        before Lightning reads its hyperparameters (torch's own refusal names neither file nor fix).
        ``--weights_only false`` is the user's explicit opt-out of this check."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else None
        ckpt_path = config.get("ckpt_path") if config else None
        if ckpt_path and Path(ckpt_path).is_file() and config.get("weights_only") is not False:
            from zoo.weights import read_torch_file

            read_torch_file(ckpt_path)

    def before_instantiate_classes(self) -> None:
        """Load checkpoints with weights_only=True unless ``--weights_only false`` is given, explicitly,
        so that TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot turn the check off. Unless the config names its
        own loggers, log to W&B and to a CSV in default_root_dir."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("weights_only", False) is None:
            config.weights_only = True
        _share_checkpoint_metadata(config)
        if config.trainer.logger not in (None, True):
            return
        root = config.trainer.default_root_dir or DEFAULT_ROOT
        config.trainer.logger = [
            Namespace(
                class_path="tasks.wandb_setup.ZooWandbLogger",
                init_args=Namespace(save_dir=root, project=config.wandb_project, name=Path(root).name),
            ),
            Namespace(class_path="pytorch_lightning.loggers.CSVLogger", init_args=Namespace(save_dir=root, name="csv")),
        ]


def _share_checkpoint_metadata(config: Namespace) -> None:
    """Give the data module what the checkpoint's task recorded and the data config left unset
    (``num_classes``, filled from the data at fit time). Lightning refuses to log a model and a
    data module whose shared hyperparameters differ, so `zoo predict --ckpt_path` would fail."""
    model, data = config.get("model"), config.get("data")
    if not isinstance(model, Namespace) or not isinstance(data, Namespace) or data.get("init_args") is None:
        return
    recorded = {**vars(model.get("init_args") or Namespace()), **(model.get("dict_kwargs") or {})}
    for key, value in vars(data.init_args).items():
        if value is None and recorded.get(key) is not None:
            data.init_args[key] = recorded[key]


def _models(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="zoo models", description="The table of registered models.")
    parser.add_argument("--pattern", default="*", help="glob on model names, e.g. 'resnet*'")
    args = parser.parse_args(argv)
    from zoo.summary import model_table

    print(model_table(args.pattern))


# Subcommands other than Lightning's: name -> "module:function", imported only when called so
# `zoo fit` does not pay for them. Each function takes the remaining argv.
COMMANDS = {
    "models": "tasks.cli:_models",
    "bench": "tasks.bench.cli:main",
    "analyze": "tasks.analyze.cli:main",
    "export": "tasks.export:main",
}


def _run_command(name: str, argv: list[str]) -> None:
    module, function = COMMANDS[name].split(":")
    getattr(importlib.import_module(module), function)(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `zoo` console script."""
    keep_freed_memory()
    from_console = argv is None
    argv = sys.argv[1:] if from_console else argv
    if argv and argv[0] in COMMANDS:
        _run_command(argv[0], argv[1:])
    elif argv and argv[0] in LIGHTNING_COMMANDS or any(a in ("-h", "--help") for a in argv[:1]):
        ZooCLI(args=None if from_console else argv)
    else:
        commands = ", ".join([*LIGHTNING_COMMANDS, *COMMANDS])
        sys.exit(
            f"usage: zoo {{{commands}}} ...\n`zoo fit --config configs/classification/resnet.yaml` "
            "trains; `zoo models` lists the models; `zoo <command> --help` shows the options."
        )


if __name__ == "__main__":
    main()
