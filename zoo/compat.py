"""Which models survive deployment: ``torch.export``, ``torch.compile``, ONNX export and onnxruntime
parity, measured on one small representative per family x main option x task (full-size models take
hours on 2 cores), and every registered name mapped to its representative.

``python -m zoo.compat [REPRESENTATIVE ...]`` measures (all, or the named ones) and writes
``compat.json`` (shipped with the package; `zoo models --compat` prints it) and ``docs/compat.md``. A
representative is its family's configuration at small widths, so it has the same blocks, options and
head as the names it stands for.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .factory import create_model
from .registry import TASKS, get_spec, list_models
from .summary import markdown

COMPAT_FILE = Path(__file__).with_name("compat.json")
CHECKS = ("torch.export", "torch.compile", "onnx export", "onnxruntime parity")
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Representative:
    """A small model standing for the registered names with the same family and main option."""

    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    option: str = ""
    tasks: tuple[str, ...] = TASKS


REPRESENTATIVES = [
    Representative("resnet basic", "resnet18", {"widths": [4, 4, 8, 8]}, "post-activation, shortcut B"),
    Representative("resnet bottleneck", "resnet50", {"widths": [2, 2, 4, 4]}, "bottleneck, stride on the 3x3"),
    Representative("resnet cifar A", "resnet20", {"widths": [4, 4, 8]}, "shortcut A (zero-padded)"),
    Representative("resnet plain", "plain20", {"widths": [4, 4, 8]}, "no shortcuts"),
    Representative(
        "resnet pre-activation", "preact_resnet110", {"widths": [4, 4, 8], "layers": [1, 1, 1]}, "order pre"
    ),
    Representative("resnet group norm", "resnet18", {"widths": [4, 4, 8, 8], "norm": "group"}, "norm group"),
    Representative("densenet", "densenet121", {"growth_rate": 4, "block_config": (1, 1, 1, 1), "num_init_features": 8}),
    Representative(
        "densenet memory efficient",
        "densenet121",
        {"growth_rate": 4, "block_config": (1, 1, 1, 1), "num_init_features": 8, "memory_efficient": True},
        "checkpointed layers",
    ),
    Representative(
        "densenet cifar bc", "densenet_bc100_k12", {"growth_rate": 4, "block_config": (1, 1, 1)}, "CIFAR BC"
    ),
    Representative("unet same", "unet_same", {"base_width": 4, "depth": 2}, "padding same, BN"),
    Representative("unet valid", "unet", {"base_width": 4, "depth": 2, "in_chans": 3}, "padding valid, no norm"),
    Representative(  # the decoder's option: classification uses the encoder alone, as "unet same"
        "unet bilinear",
        "unet_same",
        {"base_width": 4, "depth": 2, "up_mode": "bilinear"},
        "up_mode",
        ("segmentation", "pose"),
    ),
    Representative("hourglass", "hourglass1", {"channels": 8, "depth": 2}),
    Representative("hourglass group norm", "hourglass1", {"channels": 8, "depth": 2, "norm": "group"}, "norm group"),
]
OUTPUTS = {"classification": {"num_classes": 3}, "segmentation": {"num_classes": 3}, "pose": {"num_joints": 4}}


def representative_of(name: str) -> str:
    """The representative a registered name is measured through (``unet_<x>``: the encoder's)."""
    spec = get_spec(name)
    kwargs = spec.kwargs
    if spec.family == "unet" and spec.cls.__name__ == "UNetEncoder":
        return "unet valid" if kwargs.get("padding") == "valid" else "unet same"
    if spec.family == "hourglass":
        return "hourglass"
    if spec.cls.__name__ == "DenseNet":
        return "densenet cifar bc" if kwargs.get("stem") == "cifar" else "densenet"
    if kwargs.get("plain"):
        return "resnet plain"
    if kwargs.get("order") == "pre":
        return "resnet pre-activation"
    if kwargs.get("shortcut") == "A":
        return "resnet cifar A"
    return "resnet bottleneck" if kwargs["block"].__name__ == "Bottleneck" else "resnet basic"


def _check(results: dict[str, str], check: str, run: Any) -> Any:
    """Run one check, recording "yes" or the error's first line."""
    try:
        value = run()
        results[check] = "yes"
        return value
    except Exception as error:  # noqa: BLE001 - a failure is the measurement
        results[check] = f"no: {type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
        traceback.print_exc(limit=1, file=sys.stderr)
        return None


def _assert_close(got: Any, want: Any, relative: float = 0.0) -> None:
    """Raise AssertionError naming the largest excess when ``|got - want|`` passes TOLERANCE + relative *
    ``|want|`` anywhere."""
    excess = abs(got - want) - relative * abs(want)
    worst = excess.argmax()
    if excess.flat[worst] > TOLERANCE:
        difference = abs(got - want).flat[worst]
        value = want.flat[worst]
        raise AssertionError(f"difference {difference:.2e} at {value:.3g} > {TOLERANCE} + {relative} x value")


def measure(rep: Representative, task: str) -> dict[str, str]:
    """The four checks of one representative on one task."""
    from .export import Deployable, example_input, export_onnx, export_program

    torch.manual_seed(0)
    extra = {"width": 8} if task == "pose" and get_spec(rep.model).family in ("resnet", "densenet") else {}
    model = create_model(rep.model, task=task, **rep.kwargs, **OUTPUTS[task], **extra)
    with torch.no_grad():
        for _ in range(2):  # BatchNorm statistics as after training
            model.train()(example_input(model, batch=4))
    model.eval()
    x = example_input(model, batch=2)
    results: dict[str, str] = {}
    _check(results, "torch.export", lambda: export_program(model, x))

    def compiled() -> None:
        # A fresh cache per model: past dynamo's recompile limit torch.compile silently runs eager code.
        torch._dynamo.reset()
        deployable = Deployable(model)
        with torch.no_grad():
            got = torch.compile(deployable, fullgraph=True)(x).numpy()
            # inductor reorders float32 reductions (a norm's mean and variance): relative error allowed too
            _assert_close(got, deployable(x).numpy(), relative=TOLERANCE)

    _check(results, "torch.compile", compiled)
    with tempfile.TemporaryDirectory() as folder:
        path = _check(results, "onnx export", lambda: export_onnx(model, Path(folder) / "m.onnx", example=x))
        if path is None:
            results["onnxruntime parity"] = "no: not exported"
            return results

        def parity() -> None:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path))
            for batch in (1, 3):
                y = example_input(model, batch=batch)
                with torch.no_grad():
                    want = Deployable(model)(y).numpy()
                (got,) = session.run(None, {"images": y.numpy()})
                _assert_close(got, want)

        _check(results, "onnxruntime parity", parity)
    return results


def measure_all(names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows for the representatives `names` (default all); with names, the other rows come from the
    shipped table, so that one representative can be re-measured alone."""
    unknown = set(names) - {rep.name for rep in REPRESENTATIVES}
    if unknown:
        raise SystemExit(f"unknown representatives {sorted(unknown)}; use {[rep.name for rep in REPRESENTATIVES]}")
    kept = {(r["representative"], r["task"]): r for r in json.loads(COMPAT_FILE.read_text())} if names else {}
    rows = []
    for rep in REPRESENTATIVES:
        if names and rep.name not in names:
            rows.extend(kept[rep.name, task] for task in rep.tasks)
            continue
        for task in rep.tasks:
            start = time.perf_counter()
            results = measure(rep, task)
            stands_for = [n for n in list_models() if representative_of(n) == rep.name]
            rows.append({"representative": rep.name, "model": rep.model, "option": rep.option, "task": task, **results,
                         "names": stands_for, "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(f"{rep.name} / {task}: {results}", file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The compatibility table as Markdown: a row per representative and task."""
    header = ["representative", "option", "task", *CHECKS, "stands for"]
    body = []
    for row in rows:
        names = row["names"]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        body.append([row["representative"], row["option"], row["task"], *(row[c] for c in CHECKS), shown])
    return markdown(header, body)


def compat_table() -> str:
    """The shipped table (`zoo models --compat`)."""
    if not COMPAT_FILE.is_file():
        return "No compatibility table: run `python -m zoo.compat`."
    return table(json.loads(COMPAT_FILE.read_text())).rstrip("\n")


def main(argv: Sequence[str] | None = None) -> None:
    names = sys.argv[1:] if argv is None else argv
    rows = measure_all(names)
    COMPAT_FILE.write_text(json.dumps(rows, indent=1) + "\n")
    docs = Path(__file__).resolve().parents[1] / "docs" / "compat.md"
    docs.write_text(
        "# Deployment compatibility\n\n"
        "Measured by `python -m zoo.compat` (torch "
        f"{torch.__version__}): each representative is a registered configuration at small widths, exported "
        "with a dynamic batch and the input sizes it takes (`zoo.export`); `torch.compile` (one graph, "
        f"`fullgraph=True`) runs one forward, equal to eager within {TOLERANCE} + {TOLERANCE} x |value| "
        "(inductor reorders float32 reductions); "
        f"onnxruntime parity compares outputs at batches 1 and 3 within {TOLERANCE}. `zoo models --compat` "
        "prints the same table. Every registered name is listed under the representative it is measured "
        "through (a `unet_<encoder>` name: under its encoder's, segmentation row).\n\n" + table(rows)
    )
    print(f"wrote {COMPAT_FILE} and {docs}")


if __name__ == "__main__":
    main()
