"""The model table that `zoo models` prints: every registered configuration with its parameters,
GFLOPs at its native input size and its feature pyramid."""

from __future__ import annotations

import torch

from .factory import create_model
from .measure import count_gflops, count_params
from .registry import get_spec, list_models


def markdown(header: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """A Markdown table (GitHub style), its columns at the indices in ``right`` aligned right;
    every table archzoo prints or writes goes through here."""
    rule = "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"
    lines = ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)]
    return "\n".join(lines) + "\n"


def model_row(name: str) -> dict:
    """Params, GFLOPs and features of ``name``, built on the meta device (no memory, no compute)."""
    spec = get_spec(name)
    with torch.device("meta"):
        model = create_model(name)
    return dict(
        name=name,
        family=spec.family,
        task=spec.native_task,
        input="x".join(map(str, spec.input_size)),
        params=count_params(model),
        gflops=count_gflops(model, spec.input_size),
        features=" ".join(f"{f['num_chs']}/{f['reduction']}" for f in model.feature_info),
        paper=spec.paper,
    )


def model_table(pattern: str = "*") -> str:
    """A Markdown table of every registered model matching ``pattern``."""
    header = ["model", "family", "native task", "input", "params", "GFLOPs", "features (channels/reduction)", "from"]
    rows = []
    for name in list_models(pattern):
        r = model_row(name)
        rows.append(
            [r["name"], r["family"], r["task"], r["input"], f"{r['params']:,}", f"{r['gflops']:.2f}", r["features"]]
            + [r["paper"]]
        )
    return markdown(header, rows, right=frozenset({4, 5})).rstrip("\n")
