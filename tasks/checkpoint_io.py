"""Checkpoint files that are always whole: written to a temporary file, synced, then renamed.

Lightning's `TorchCheckpointIO` serialises first and then writes the bytes straight to the final
path, so a kill or a full disk during the write leaves a truncated ``last.ckpt`` and no previous
checkpoint to fall back to. `AtomicCheckpointIO` writes ``.<name>.tmp`` in the same folder, flushes
and fsyncs it, and `os.replace`s it over the old file (atomic on POSIX and Windows within one file
system), then fsyncs the folder so that the rename survives a power cut too. At every moment the
final path holds either the previous checkpoint or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.utilities.types import _PATH
from pytorch_lightning.plugins.io import TorchCheckpointIO


def atomic_save(obj: Any, path: _PATH) -> None:
    """`torch.save` `obj` to the local `path` so that `path` is never seen half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")  # one fixed name: a killed write leaves no growing litter
    try:
        with open(temporary, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    if os.name == "posix":  # make the rename itself durable
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local saves go through `atomic_save`; remote (fsspec) paths are
    saved as Lightning does."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, path)
