"""`zoo export <checkpoint> <out.safetensors>`: the network of a zoo task's Lightning checkpoint as
safetensors, the format that cannot run code when loaded (docs/reliability.md).

The checkpoint is read with ``torch.load(weights_only=True)`` (`zoo.weights.read_torch_file`). The
file written holds the task network's weights (the ``net.`` entries of the task's state dict) and,
as metadata, the model name, the task and the `zoo.create_model` options, output size included,
so that ``zoo.load_model(out)`` rebuilds the same network with the same outputs.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import zoo
from zoo.registry import TASKS
from zoo.weights import load_weights, read_torch_file, save_weights

from .base import ZooTask

NET_PREFIX = "net."
"""`ZooTask` keeps its network in ``self.net``, so its weights are the state dict entries under ``net.``."""


def _task_classes() -> dict[str, str]:
    """Every zoo task class's name -> its task ("ClassificationTask" -> "classification")."""
    found, todo = {}, [ZooTask]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "task" in vars(cls):
            found[cls.__name__] = cls.task
    return found


def checkpoint_model(checkpoint: dict[str, Any], path: Path, task: str | None = None) -> tuple[str, str, dict]:
    """The (model name, task, create_model options) of a zoo task's checkpoint.

    The task comes from the class LightningCLI records (``_class_path``), else from ``task``; the
    options are the task's ``model_kwargs`` plus its output size (``num_classes`` or ``num_joints``).
    """
    hparams = checkpoint.get("hyper_parameters") or {}
    if "model" not in hparams or not isinstance(checkpoint.get("state_dict"), dict):
        raise ValueError(
            f"{path} is not a checkpoint of a zoo task: it has no model name in its hyper_parameters or no "
            "state_dict. Export checkpoints written by `zoo fit` (e.g. <run>/checkpoints/last.ckpt)."
        )
    class_name = str(hparams.get("_class_path", "")).rpartition(".")[2]
    recorded = _task_classes().get(class_name)
    if task is not None and task not in TASKS:
        raise ValueError(f"task={task!r} is not supported; choose one of {', '.join(TASKS)}.")
    if recorded and task and task != recorded:
        raise ValueError(f"{path} is a {class_name} checkpoint ({recorded}); --task {task} contradicts it.")
    task = recorded or task
    if task is None:
        raise ValueError(
            f"{path} does not record its task class (it was not written through `zoo fit`); "
            f"pass --task, one of {', '.join(TASKS)}."
        )
    output = "num_joints" if task == "pose" else "num_classes"
    if hparams.get(output) is None:
        raise ValueError(f"{path} has no {output} in its hyper_parameters, so the {task} model cannot be rebuilt.")
    return hparams["model"], task, {**(hparams.get("model_kwargs") or {}), output: hparams[output]}


def export_checkpoint(checkpoint: str | Path, out: str | Path, task: str | None = None) -> Path:
    """Write the network of a zoo task's Lightning checkpoint to the safetensors file ``out``.

    The weights are loaded into a freshly built model first, so a checkpoint whose weights do not
    fit its own recorded model fails here, with the offending keys, rather than at load time.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"The export is written as safetensors: name it *.safetensors, not {out.name}.")
    content = read_torch_file(checkpoint)
    if not isinstance(content, dict):
        raise ValueError(f"{checkpoint} holds a {type(content).__name__}, not a Lightning checkpoint.")
    name, task, options = checkpoint_model(content, checkpoint, task)
    weights = {k[len(NET_PREFIX) :]: v for k, v in content["state_dict"].items() if k.startswith(NET_PREFIX)}
    model = zoo.create_model(name, task=task, **options)
    load_weights(model, weights, name=f"{name} ({task})")
    return save_weights(model.state_dict(), out, name, task, options)


def main(argv: list[str]) -> None:
    """`zoo export <checkpoint> <out.safetensors> [--task TASK]`."""
    parser = argparse.ArgumentParser(
        prog="zoo export",
        description="Write the network of a zoo checkpoint as safetensors, with the model name, task and options "
        "as metadata; zoo.load_model(out) rebuilds it.",
    )
    parser.add_argument("checkpoint", type=Path, help="a Lightning checkpoint written by `zoo fit`")
    parser.add_argument("out", type=Path, help="the safetensors file to write")
    parser.add_argument("--task", choices=TASKS, help="the task, for checkpoints that do not record their class")
    args = parser.parse_args(argv)
    try:
        path = export_checkpoint(args.checkpoint, args.out, args.task)
    except (OSError, ValueError, pickle.UnpicklingError) as err:  # bad input: the message, not a traceback
        raise SystemExit(f"zoo export: {err}") from err
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
