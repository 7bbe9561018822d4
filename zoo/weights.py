"""Loading weights that others send, without running code from them, and with errors that say what
does not fit.

A ``.pt``/``.pth``/``.ckpt`` file is a pickle, and unpickling can call any function the file names:
a checkpoint can run code on the machine that opens it. So archzoo reads torch files only with
``torch.load(weights_only=True)``, which unpickles tensors and plain containers and refuses
everything else, and it writes the weights it exports as safetensors (a JSON header and raw tensor
bytes, no code). `read_weights` reads either kind; `load_weights` puts a state dict into a model
and, when it does not fit, names the first missing, unexpected and mis-shaped keys and the model.
`save_weights` writes the safetensors file of ``zoo export``, with the model's name, task and
options in its metadata so `zoo.load_model` can rebuild it.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from .atomic import write_atomic

__all__ = [
    "UnsafeFileError",
    "WeightsMismatchError",
    "check_fit",
    "load_weights",
    "read_metadata",
    "read_torch_file",
    "read_weights",
    "save_weights",
]

METADATA_KEYS = ("archzoo.model", "archzoo.task", "archzoo.model_kwargs")
"""The safetensors metadata of a ``zoo export`` file: model name, task and `create_model` options (JSON)."""
SHOWN_KEYS = 5
"""How many offending keys of each kind an error names before counting the rest."""
_SAFE_ADVICE = (
    "Load only files from sources you trust, and prefer safetensors, which cannot run code: whoever "
    "trained the model can write one with `zoo export <checkpoint> <out.safetensors>`."
)


class UnsafeFileError(pickle.UnpicklingError):
    """A torch file that ``torch.load(weights_only=True)`` refused: unpickling it would import or call
    something other than tensors and plain containers, which is how a pickle runs code."""


class WeightsMismatchError(ValueError):
    """A state dict that does not fit a model: missing, unexpected or mis-shaped keys."""


def _is_safetensors(path: Path) -> bool:
    """True when the file starts like safetensors: an 8-byte header length, then a JSON object."""
    with path.open("rb") as file:
        head = file.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def read_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name the file.

    Raises FileNotFoundError for a missing file, `UnsafeFileError` (naming what the pickle asked
    for) when the file holds more than tensors and plain containers, and ValueError when it is no
    torch file at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint or weights file at {path}.")
    try:
        with path.open("rb") as file:  # a file object: torch would pick a loader by the file's suffix
            return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise ValueError(f"{path} is not a readable torch file: {err}") from err
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", str(err), re.DOTALL)
        reason = " ".join(found.group(1).split()) if found else "objects other than tensors"
        reason = reason.split(" Please use")[0]  # drop torch's advice to allowlist the global
        raise UnsafeFileError(
            f"Refused to load {path}: torch.load(weights_only=True) rejected its content ({reason}). Unpickling "
            "a file can import and call any code it names, so archzoo loads torch files only this way, which "
            f"allows tensors and plain containers. Nothing from the file was run. {_SAFE_ADVICE}"
        ) from err
    except (RuntimeError, OSError, EOFError) as err:  # truncated, or neither a zip archive nor a legacy torch file
        raise ValueError(f"{path} is not a readable torch file: {err}") from err


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (empty when it has none); ValueError naming the file if the
    file is no safetensors file."""
    try:
        with safe_open(str(path), framework="pt") as file:
            return dict(file.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a safetensors file or a torch file, read without running code from it.

    A torch file may hold the state dict itself or a dict with a ``"state_dict"`` entry. A Lightning
    checkpoint is a training state, not bare weights: the error says to export its weights first.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {path}.")
    if _is_safetensors(path):
        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    content = read_torch_file(path)
    if isinstance(content, Mapping) and "pytorch-lightning_version" in content:
        raise ValueError(
            f"{path} is a Lightning checkpoint (a whole training state), not model weights. Export the "
            f"model's weights with `zoo export {path} {path.with_suffix('.safetensors')}` and load that file."
        )
    if isinstance(content, Mapping) and isinstance(content.get("state_dict"), Mapping):
        content = content["state_dict"]
    if not isinstance(content, Mapping) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        kind = type(content).__name__
        keys = f" with keys {', '.join(map(str, list(content)[:SHOWN_KEYS]))}" if isinstance(content, Mapping) else ""
        raise ValueError(
            f"{path} holds a {kind}{keys}, not a state dict (a mapping of parameter names to tensors); "
            "save one with torch.save(model.state_dict(), path) or safetensors."
        )
    return dict(content)


def _listed(keys: list[str]) -> str:
    more = f", ... ({len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def check_fit(model: nn.Module, state_dict: Mapping[str, torch.Tensor], name: str, source: str = "state dict") -> None:
    """Raise `WeightsMismatchError` unless ``state_dict`` has exactly the model's keys and shapes.

    The message names the model (``name``) and the first `SHOWN_KEYS` missing, unexpected and
    mis-shaped keys of each kind, with the count of the rest.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = [
        f"{label} {_listed(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch (given vs model)", shapes),
        )
        if keys
    ]
    if problems:
        raise WeightsMismatchError(
            f"The {source} does not fit {name}: {'; '.join(problems)}. Build the model the weights were "
            "saved from (same name, task and options such as num_classes, in_chans or widths)."
        )


def load_weights(
    model: nn.Module, source: str | Path | Mapping[str, torch.Tensor], name: str | None = None
) -> nn.Module:
    """Load a state dict, or a safetensors or torch file of one, into ``model`` (strictly) and return it.

    A file is read with `read_weights` (no code from it runs). When the weights do not fit, the
    `WeightsMismatchError` names ``name`` (default: the model's class) and the offending keys; when a
    ``zoo export`` file names another model, the error says which.
    """
    name = name or type(model).__name__
    if isinstance(source, Mapping):
        state_dict, label = source, "state dict"
    else:
        state_dict, label = read_weights(source), f"weights file {source}"
        saved_as = read_metadata(source).get("archzoo.model") if _is_safetensors(Path(source)) else None
        if saved_as:
            label += f" (exported from {saved_as})"
    check_fit(model, state_dict, name, label)
    model.load_state_dict(state_dict, strict=True)
    return model


def save_weights(
    state_dict: Mapping[str, torch.Tensor], path: str | Path, model: str, task: str, model_kwargs: Mapping[str, Any]
) -> Path:
    """Write ``state_dict`` as safetensors with the model's name, task and options in the metadata.

    The file appears whole or not at all (written next to ``path``, then renamed over it).
    ``model_kwargs`` must be JSON (as they are in a YAML config).
    """
    path = Path(path)
    try:
        options = json.dumps(dict(model_kwargs), sort_keys=True)
    except TypeError as err:
        raise ValueError(f"model_kwargs {dict(model_kwargs)} cannot be stored as JSON metadata: {err}") from err
    metadata = dict(zip(METADATA_KEYS, (model, task, options), strict=True)) | {"format": "pt"}
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    return write_atomic(path, lambda file: file.write(save(tensors, metadata=metadata)))
