"""`zoo export <checkpoint> <out>`: the network of a zoo task's Lightning checkpoint as safetensors (the
weights, in the format that cannot run code when loaded; docs/reliability.md), ONNX or a
``torch.export`` program (`zoo.export`; docs/export.md).

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

from torch import nn

import tasks
import zoo
from zoo.registry import TASKS
from zoo.weights import load_weights, read_torch_file, save_weights

NET_PREFIX = "net."
"""`ZooTask` keeps its network in ``self.net``, so its weights are the state dict entries under ``net.``."""


def _task_classes() -> dict[str, str]:
    """Every zoo task class's name -> its task ("ClassificationTask" -> "classification"). The package
    `tasks` imports its task classes on first use, so they are imported here by their exported names."""
    found, todo = {}, [getattr(tasks, name) for name in tasks.__all__]
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


FORMATS = {".safetensors": "safetensors", ".onnx": "onnx", ".pt2": "pt2"}
"""Export format by file suffix."""


def checkpoint_network(checkpoint: str | Path, task: str | None = None) -> tuple[nn.Module, str, str, dict, dict]:
    """The network of a zoo task's Lightning checkpoint, with its weights loaded: (model, name, task,
    create_model options, the task's hyperparameters and the data's ``image_size``).

    The weights are loaded into a freshly built model, so a checkpoint whose weights do not fit its own
    recorded model fails here, with the offending keys, rather than at load time.
    """
    checkpoint = Path(checkpoint)
    content = read_torch_file(checkpoint)
    if not isinstance(content, dict):
        raise ValueError(f"{checkpoint} holds a {type(content).__name__}, not a Lightning checkpoint.")
    name, task, options = checkpoint_model(content, checkpoint, task)
    weights = {k[len(NET_PREFIX) :]: v for k, v in content["state_dict"].items() if k.startswith(NET_PREFIX)}
    model = zoo.create_model(name, task=task, **options)
    load_weights(model, weights, name=f"{name} ({task})")
    data = content.get("datamodule_hyper_parameters") or {}
    return (
        model.eval(),
        name,
        task,
        options,
        {**(content.get("hyper_parameters") or {}), "image_size": data.get("image_size")},
    )


def export_metadata(name: str, task: str, options: dict, hparams: dict) -> dict[str, object]:
    """What an exported file records of a checkpoint: model, task, options, the output's meaning, the
    image size it was trained at, and its class or joint names (and the pose skeleton and left/right
    pairs): what `zoo infer` needs to decode the output like `zoo predict`."""
    outputs = {
        "classification": "logits (batch, classes): softmax for probabilities, argmax for the label",
        "segmentation": "logits (batch, classes, height, width), at the input's size (a valid-padding U-Net: its "
        "centre crop): argmax over classes for the mask",
        "pose": "heatmaps (batch, joints, height/4, width/4): the argmax of each, moved a quarter pixel toward "
        "its higher neighbour, is the joint (pixel centres at integers: x_in = (x_map + 0.5) * 4 - 0.5)",
    }
    metadata: dict[str, object] = {
        "archzoo.model": name,
        "archzoo.task": task,
        "archzoo.model_kwargs": options,
        "archzoo.output": outputs[task],
    }
    names = {key: hparams.get(key) for key in ("image_size", "class_names", "joint_names", "skeleton", "flip_pairs")}
    metadata |= {f"archzoo.{key}": value for key, value in names.items() if value}
    return metadata


def export_checkpoint(
    checkpoint: str | Path, out: str | Path, task: str | None = None, fmt: str | None = None, opset: int | None = None
) -> Path:
    """Write the network of a zoo task's Lightning checkpoint to ``out``: safetensors (the weights, with
    the model's name, task and options; `zoo.load_model` rebuilds it), ONNX or a ``torch.export``
    program (`zoo.export`), the format chosen by ``fmt`` or else by the suffix."""
    out = Path(out)
    fmt = fmt or FORMATS.get(out.suffix)
    if fmt not in FORMATS.values():
        raise ValueError(
            f"Cannot tell the format of {out.name}: name it *.safetensors, *.onnx or *.pt2, or pass --format."
        )
    model, name, task, options, hparams = checkpoint_network(checkpoint, task)
    if fmt == "safetensors":
        return save_weights(model.state_dict(), out, name, task, options)
    from zoo.export import export_onnx, save_program

    if fmt == "pt2":
        return save_program(model, out)
    return export_onnx(model, out, opset=opset, metadata=export_metadata(name, task, options, hparams))


def main(argv: list[str]) -> None:
    """`zoo export <checkpoint> <out> [--format F] [--opset N] [--task TASK]`."""
    parser = argparse.ArgumentParser(
        prog="zoo export",
        description="Write the network of a zoo checkpoint as safetensors (weights; zoo.load_model rebuilds it), "
        "ONNX or a torch.export program (.pt2), with a dynamic batch and the input sizes the model takes.",
    )
    parser.add_argument("checkpoint", type=Path, help="a Lightning checkpoint written by `zoo fit`")
    parser.add_argument("out", type=Path, help="the file to write: *.safetensors, *.onnx or *.pt2")
    parser.add_argument("--format", choices=sorted(set(FORMATS.values())), help="default: from the suffix")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--task", choices=TASKS, help="the task, for checkpoints that do not record their class")
    args = parser.parse_args(argv)
    try:
        path = export_checkpoint(args.checkpoint, args.out, args.task, args.format, args.opset)
    except (OSError, ValueError, ImportError, pickle.UnpicklingError) as err:  # bad input: the message
        raise SystemExit(f"zoo export: {err}") from err
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
