"""`ZooCLI`: LightningCLI over any `tasks.ZooTask` and any data module, with archzoo's defaults: a W&B
logger (offline unless W&B is set up) plus a local CSV of metrics, ``best``/``last`` checkpoints under
``<default_root_dir>/checkpoints``, a model summary with GFLOPs, a seed, and `zoo predict` writing its
predictions into the run folder (`tasks.prediction`). The ``zoo`` command (`tasks.cli`) imports it
only for ``fit``, ``validate``, ``test`` and ``predict``, so its other subcommands start without Lightning.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from jsonargparse import Namespace
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI

DEFAULT_ROOT = "runs/default"


def _checkpoint_dir(root: str | None) -> str:
    return str(Path(root or DEFAULT_ROOT) / "checkpoints")


class ZooCLI(LightningCLI):
    """LightningCLI over any `tasks.ZooTask` and any data module, configured by YAML."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        from tasks.base import ZooTask
        from tasks.callbacks import ModelStats, PredictionWriter

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

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; an argument a constructor refuses stops the run with its message
        (which names the flag and the fix), not with jsonargparse's wrapping traceback."""
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, KeyError, OSError) as error:
            cause = _root_cause(error)
            message = cause.args[0] if isinstance(cause, KeyError) and cause.args else str(cause)
            raise SystemExit(f"zoo {self.subcommand}: {message}") from error

    def before_instantiate_classes(self) -> None:
        """Load checkpoints with weights_only=True unless ``--weights_only false`` is given, explicitly,
        so that TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot turn the check off. Unless the config names its
        own loggers, log to W&B and to a CSV in default_root_dir."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("weights_only", False) is None:
            config.weights_only = True
        _share_arguments(config)
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


def _share_arguments(config: Namespace) -> None:
    """Make the arguments the task and the data module both take (``num_classes``) agree, before either
    is built: a value given to one only (on the command line, in the config or recorded in the
    ``--ckpt_path`` checkpoint) goes to the other; two different values stop the run, naming both flags.

    Lightning refuses to log a model and a data module whose shared hyperparameters differ, and the
    task would build a model for the wrong number of outputs.
    """
    model, data = config.get("model"), config.get("data")
    if not isinstance(model, Namespace) or not isinstance(data, Namespace) or data.get("init_args") is None:
        return
    model_args, recorded = model.get("init_args") or Namespace(), model.get("dict_kwargs") or {}
    for key, data_value in vars(data.init_args).items():
        if key not in model_args and key not in recorded:
            continue
        model_value = recorded.get(key, model_args.get(key))
        if model_value is not None and data_value is not None and model_value != data_value:
            raise SystemExit(
                f"--model.init_args.{key} {model_value} and --data.init_args.{key} {data_value} disagree (from the "
                f"command line, the config files or the checkpoint); give {key} once, to either, or the same to both."
            )
        if data_value is None and model_value is not None:
            data.init_args[key] = model_value
        elif model_value is None and data_value is not None and key in model_args:
            model_args[key] = data_value


def _root_cause(error: BaseException) -> BaseException:
    """The first exception of a chain: jsonargparse wraps a constructor's error in its own."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error
