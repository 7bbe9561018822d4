"""The model table that `zoo models` prints: every registered configuration with its parameters, its
feature pyramid and, with ``flops``, its GFLOPs at its native input size.

Counting builds each model (on the meta device) and traces a forward pass: about a minute for all of
them on 2 cores. So the counts of the registered configurations ship with the package, in
``model_counts.json``, each with the description of the configuration it was counted for
(`spec_key`); a name that is not there, or whose configuration changed, is counted on the spot.
``python -m zoo.summary`` rewrites the file (``tests/zoo/test_summary.py`` says when it is stale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .factory import create_model
from .measure import count_gflops, count_params
from .registry import get_spec, list_models

COUNTS_FILE = Path(__file__).with_name("model_counts.json")


def markdown(header: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """A Markdown table (GitHub style), its columns at the indices in ``right`` aligned right;
    every table archzoo prints or writes goes through here."""
    rule = "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"
    lines = ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)]
    return "\n".join(lines) + "\n"


def spec_key(name: str) -> str:
    """The configuration ``name`` stands for, as text: family, class, arguments, input size and task."""
    spec = get_spec(name)
    kwargs = {k: getattr(v, "__name__", v) for k, v in sorted(spec.kwargs.items())}
    parts = [spec.family, spec.cls.__name__, kwargs, list(spec.input_size), spec.native_task, spec.head_kwargs]
    return json.dumps(parts, sort_keys=True, default=str)


def count_model(name: str) -> dict[str, Any]:
    """Params, GFLOPs at the native input size and features of ``name``, counted on the meta device."""
    spec = get_spec(name)
    with torch.device("meta"):
        model = create_model(name)
    return {
        "key": spec_key(name),
        "params": count_params(model),
        "gflops": round(count_gflops(model, spec.input_size), 4),
        "features": " ".join(f"{f['num_chs']}/{f['reduction']}" for f in model.feature_info),
    }


def _cached() -> dict[str, dict[str, Any]]:
    return json.loads(COUNTS_FILE.read_text()) if COUNTS_FILE.is_file() else {}


def model_row(name: str, cache: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The row of ``name``: family, task, input, paper, and its counts from ``cache`` (default: the
    shipped counts) when they were made for its configuration, else counted now."""
    spec = get_spec(name)
    cache = _cached() if cache is None else cache
    counts = cache.get(name)
    if counts is None or counts["key"] != spec_key(name):
        counts = count_model(name)
    return {
        "name": name,
        "family": spec.family,
        "task": spec.native_task,
        "input": "x".join(map(str, spec.input_size)),
        "paper": spec.paper,
        **{k: counts[k] for k in ("params", "gflops", "features")},
    }


def model_table(pattern: str = "*", flops: bool = False) -> str:
    """A Markdown table of every registered model matching ``pattern``; ``flops`` adds the GFLOPs."""
    header = ["model", "family", "native task", "input", "params", *(["GFLOPs"] if flops else [])]
    header += ["features (channels/reduction)", "from"]
    cache, rows = _cached(), []
    for name in list_models(pattern):
        r = model_row(name, cache)
        gflops = [f"{r['gflops']:.2f}"] if flops else []
        rows.append(
            [r["name"], r["family"], r["task"], r["input"], f"{r['params']:,}", *gflops, r["features"], r["paper"]]
        )
    return markdown(header, rows, right=frozenset({4, 5} if flops else {4})).rstrip("\n")


def write_counts(path: Path = COUNTS_FILE) -> Path:
    """Count every registered model and write the counts file."""
    counts = {name: count_model(name) for name in list_models()}
    path.write_text(json.dumps(counts, indent=1) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_counts()}")
