"""Bench presets: which cells a bench runs, read from YAML and checked in full before any cell runs.

A cell is one (model, task, input size, budget) with the task's training settings. A preset file
(configs/bench/quick.yaml is the model) has four parts:

    description: one line saying what the preset is for
    defaults: {steps: 60, train_size: 2000, val_size: 200, num_workers: 2}   # every cell
    timing: {warmup: 2, repeats: 10}                                         # the speed measurements
    tasks:                                                                   # per-task defaults
      classification: {image_size: 32, batch_size: 32, optimizer: adamw, lr: 0.002}
    cells:
      - {model: resnet20, task: classification, optimizer: sgd, lr: 0.1}
      - {name: densenet_k8, model: densenet121, task: pose, model_kwargs: {growth_rate: 8}}

Keys of a cell: ``name`` (its label; default: the model name, followed by its ``model_kwargs`` when
the cell changes the model, e.g. ``densenet121-k8-b3333-f16``: a narrowed model never reads as the
full-size one), ``model`` (a `zoo models` name),
``task``, ``model_kwargs``, the budget (``steps`` or ``minutes``), any argument of the task's data
module (``source``, ``root``, ``image_size``, ``batch_size``, ``train_size``, ``val_size``,
``num_workers``, ``seed``, ``augment``, ``num_classes``, ``ann_file``, ``image_dir``...), so a bench can
run on the user's own folders, any argument of the task's LightningModule (``lr``, ``optimizer``,
``dice_weight``...), and Lightning's ``accelerator``, ``devices``, ``strategy`` and ``num_nodes``
(`TRAINER_KEYS`): a cell on several processes runs in a child process of its own (`tasks.bench.child`),
with ``batch_size`` per process and ``steps`` unchanged, so it sees ``devices x num_nodes`` times the
images of a one-process cell. A cell's value wins over its task's default, which wins over ``defaults``. A
relative ``root`` is relative to the folder the bench was started in.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

import zoo
from tasks.classification import ClassificationTask
from tasks.config_files import config_root
from tasks.data import ClassificationData, PoseData, SegmentationData
from tasks.pose import PoseTask
from tasks.segmentation import SegmentationTask

PRESET_FOLDER = "bench"
"""The presets' folder among the built-in configs (`tasks.config_files`)."""
TASK_CLASSES = {
    "classification": (ClassificationTask, ClassificationData),
    "segmentation": (SegmentationTask, SegmentationData),
    "pose": (PoseTask, PoseData),
}
TRAINER_KEYS = ("accelerator", "devices", "strategy", "num_nodes")
"""Lightning Trainer arguments a cell may set (default: the bench's --device, 1 device, 1 node)."""
CELL_KEYS = ("name", "model", "task", "model_kwargs", "steps", "minutes", *TRAINER_KEYS)
NOT_DATA_KEYS = ("predict_root",)
"""Data module arguments a bench has no use for."""
TOP_KEYS = ("description", "defaults", "timing", "tasks", "cells")
TIMING_DEFAULTS = {"warmup": 2, "repeats": 10}
# Task arguments a preset does not set: the output sizes come from the data, no media in a bench.
FIXED_TASK_ARGS = (
    "model",
    "model_kwargs",
    "num_classes",
    "class_names",
    "num_joints",
    "joint_names",
    "flip_pairs",
    "skeleton",
    "num_media",
)


def init_arguments(cls: type) -> list[str]:
    """The arguments of ``cls(...)``, including those its ``**kwargs`` pass on to the classes above it
    (as LightningCLI reads them)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))


def data_arguments(task: str) -> list[str]:
    """The data module arguments a preset may set for ``task``."""
    return [k for k in init_arguments(TASK_CLASSES[task][1]) if k not in NOT_DATA_KEYS]


class PresetError(ValueError):
    """A preset that cannot run; the message lists every problem, each naming its cell."""


@dataclass(frozen=True)
class Cell:
    """One bench cell: a model trained on a task for a budget, then measured.

    Attributes:
        name: the cell's label in the leaderboard (the model name unless the preset gives one).
        model / task / model_kwargs: what `zoo.create_model` builds.
        task_kwargs: arguments of the task's LightningModule (lr, optimizer...).
        data_kwargs: arguments of the task's data module (source, root, image_size, batch_size...).
        steps / minutes: the training budget, exactly one of them set.
        trainer_kwargs: Lightning's ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` (`TRAINER_KEYS`).
    """

    name: str
    model: str
    task: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    minutes: float | None = None
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def processes(self) -> int:
        """How many training processes the cell runs: devices x num_nodes."""
        return int(self.trainer_kwargs.get("devices", 1)) * int(self.trainer_kwargs.get("num_nodes", 1))

    @property
    def cell_id(self) -> str:
        """``<task>/<name>``: unique within a preset."""
        return f"{self.task}/{self.name}"

    @property
    def file_stem(self) -> str:
        """The cell's id as a file name."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.cell_id.replace("/", "__"))

    @property
    def budget(self) -> str:
        """The budget in words, for the leaderboard."""
        return f"{self.steps} steps" if self.steps is not None else f"{self.minutes:g} min"

    @property
    def data(self) -> dict[str, str | None]:
        """Which data the cell uses: its ``source`` and ``root`` (None for the synthetic sets)."""
        return {"source": self.data_kwargs.get("source", "synthetic"), "root": self.data_kwargs.get("root")}

    def build(self, batch_size: int | None = None) -> tuple[Any, Any]:
        """The task LightningModule (model built for the data's channels and outputs) and its data
        module; ``batch_size`` overrides the cell's. An argument both take (``num_classes``) goes to both."""
        task_cls, data_cls = TASK_CLASSES[self.task]
        data = data_cls(**{**self.data_kwargs, **({"batch_size": batch_size} if batch_size else {})})
        model_kwargs = {"in_chans": data.in_chans, **self.model_kwargs}
        shared = {k: v for k, v in self.data_kwargs.items() if k in init_arguments(task_cls)}
        module = task_cls(model=self.model, model_kwargs=model_kwargs, num_media=0, **self.task_kwargs, **shared)
        module.configure_from_data(data)
        module.configure()
        return module, data


@dataclass(frozen=True)
class Preset:
    """A named list of cells and the timing settings of the speed measurements."""

    name: str
    description: str
    cells: list[Cell]
    timing: dict[str, int]
    source: str
    """The preset's YAML text, saved in the run folder so that ``--resume`` runs the same cells."""


def resolve_preset_path(preset: str) -> Path:
    """``quick`` -> the built-in preset bench/quick.yaml; any other value is a path to a YAML file."""
    path = Path(preset).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise PresetError(f"Preset file {preset!r} does not exist.")
        return path
    folder = config_root() / PRESET_FOLDER
    named = folder / f"{preset}.yaml"
    if not named.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        close = difflib.get_close_matches(preset, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise PresetError(
            f"Unknown preset {preset!r}.{hint} Use one of {', '.join(known)} (built in: `zoo configs` lists them) "
            "or a path to a YAML file."
        )
    return named


def load_preset(preset: str, base: Path | None = None) -> Preset:
    """Read and validate a preset by name or path; raises `PresetError` listing every bad cell. A
    relative ``root`` is taken relative to ``base`` (default: the current folder)."""
    path = resolve_preset_path(preset)
    return parse_preset(path.read_text(), name=path.stem, base=base)


def _unknown(keys: Any, allowed: Any, where: str) -> list[str]:
    errors = []
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            errors.append(f"{where}: unknown key {key!r}{hint}")
    return errors


def _task_args(task: str) -> set[str]:
    return set(init_arguments(TASK_CLASSES[task][0])) - set(FIXED_TASK_ARGS)


SHORT_KEYS = {
    "growth_rate": "k",  # the DenseNet paper's k
    "block_config": "b",
    "num_init_features": "f",
    "widths": "w",
    "base_width": "w",
    "channels": "c",
    "depth": "d",
    "layers": "l",
    "width": "hw",  # the heatmap head's width
}
"""The short label of a model option in a cell's default name; other options keep their name."""


def narrowed_name(model: str, model_kwargs: dict[str, Any]) -> str:
    """A cell's default name: the model, then each option it changes (``resnet18-w16.32.64.128``).

    A list of single digits is written without separators (``b3333``), others joined by dots.
    """

    def value(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            parts = [str(x) for x in v]
            return "".join(parts) if all(len(p) == 1 for p in parts) else ".".join(parts)
        return str(v)

    return "-".join([model, *(f"{SHORT_KEYS.get(k, k)}{value(v)}" for k, v in model_kwargs.items())])


def _cell_name(settings: dict[str, Any]) -> str:
    """The cell's ``name``, else its model's name with the options it changes (`narrowed_name`)."""
    if settings.get("name"):
        return str(settings["name"])
    kwargs = settings.get("model_kwargs")
    return narrowed_name(str(settings.get("model")), kwargs if isinstance(kwargs, dict) else {})


def parse_preset(text: str, name: str = "preset", base: Path | None = None) -> Preset:
    """Validate a preset's YAML text and expand its cells (see the module docstring for the format); a
    relative ``root`` is taken relative to ``base`` (default: the current folder)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise PresetError(f"Preset {name!r} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise PresetError(f"Preset {name!r} must be a mapping with keys {', '.join(TOP_KEYS)}.")
    errors = _unknown(raw, TOP_KEYS, f"preset {name!r}")
    defaults, per_task = raw.get("defaults") or {}, raw.get("tasks") or {}
    timing = {**TIMING_DEFAULTS, **(raw.get("timing") or {})}
    errors += _unknown(timing, TIMING_DEFAULTS, "timing")
    errors += [f"timing: {k} must be an integer >= 1, got {v!r}" for k, v in timing.items() if not _positive_int(v)]
    errors += _unknown(per_task, zoo.TASKS, "tasks")
    entries = raw.get("cells") or []
    if not entries:
        errors.append(f"preset {name!r} has no cells: add a list under 'cells'.")
    cells, seen = [], set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            errors.append(f"cell #{index + 1}: expected a mapping like {{model: resnet20, task: classification}}")
            continue
        settings = {**defaults, **(per_task.get(entry.get("task")) or {}), **entry}
        label = f"cell #{index + 1} ({settings.get('task')}/{_cell_name(settings)})"
        cell, cell_errors = _make_cell(settings, label, Path.cwd() if base is None else base)
        errors += cell_errors
        if cell is not None:
            if cell.cell_id in seen:
                errors.append(f"{label}: the id {cell.cell_id!r} is used twice; give one of them a distinct 'name'")
            seen.add(cell.cell_id)
            cells.append(cell)
    if errors:
        raise PresetError(f"Preset {name!r} has {len(errors)} problem(s), no cell was run:\n  " + "\n  ".join(errors))
    return Preset(name, str(raw.get("description", "")), cells, timing, text)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _make_cell(settings: dict[str, Any], label: str, base: Path) -> tuple[Cell | None, list[str]]:
    """A `Cell` from merged settings, or the problems that prevent it."""
    task, model = settings.get("task"), settings.get("model")
    if task not in zoo.TASKS:
        close = difflib.get_close_matches(str(task), zoo.TASKS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, [f"{label}: unknown task {task!r}{hint}; use one of {', '.join(zoo.TASKS)}"]
    try:
        zoo.get_spec(str(model))
    except KeyError as err:
        return None, [f"{label}: {err.args[0]}"]
    task_args, data_args = _task_args(task), data_arguments(task)
    errors = _unknown(settings, (*CELL_KEYS, *data_args, *sorted(task_args)), label)
    if settings.get("root") is not None:
        root = settings["root"] = str((base / Path(str(settings["root"])).expanduser()).resolve())
        if not Path(root).is_dir():
            errors.append(f"{label}: root {root} is not a folder; set it to your {task} data's folder")
    budget = {k: settings[k] for k in ("steps", "minutes") if settings.get(k) is not None}
    if len(budget) != 1:
        errors.append(f"{label}: give exactly one budget, 'steps' or 'minutes' (got {budget or 'none'})")
    elif "steps" in budget and not _positive_int(budget["steps"]):
        errors.append(f"{label}: steps must be an integer >= 1, got {budget['steps']!r}")
    elif "minutes" in budget and not (isinstance(budget["minutes"], (int, float)) and budget["minutes"] > 0):
        errors.append(f"{label}: minutes must be a number > 0, got {budget['minutes']!r}")
    errors += [
        f"{label}: {key} must be an integer >= 1, got {settings[key]!r}"
        for key in ("devices", "num_nodes")
        if key in settings and not _positive_int(settings[key])
    ]
    if "minutes" in budget and settings.setdefault("scheduler", "none") != "none":
        errors.append(f"{label}: a 'minutes' budget has no known step count to schedule the LR over; use 'steps'")
    if errors:
        return None, errors
    cell = Cell(
        name=_cell_name(settings),
        model=model,
        task=task,
        model_kwargs=dict(settings.get("model_kwargs") or {}),
        task_kwargs={k: v for k, v in settings.items() if k in task_args},
        data_kwargs={k: settings[k] for k in data_args if k in settings},
        steps=budget.get("steps"),
        minutes=budget.get("minutes"),
        trainer_kwargs={k: settings[k] for k in TRAINER_KEYS if k in settings},
    )
    problem = _dry_run(cell)
    return (None, [f"{label}: {problem}"]) if problem else (cell, [])


def _dry_run(cell: Cell) -> str | None:
    """Build the cell's data module, task and model on the meta device and push one batch of the
    cell's input size through it, so a wrong option or an input too small fails now, not after the
    cells before it have trained. Returns the problem, or None."""
    try:
        with torch.device("meta"):
            module, data = cell.build()
            size = data.image_size
            module.net.eval()(torch.zeros(2, data.in_chans, size, size))
    except Exception as err:  # noqa: BLE001 - any failure here is the preset's problem, reported per cell
        return f"{type(err).__name__}: {err}".splitlines()[0]
    return None
