"""Checkpoint files that are always whole: written to a temporary file, synced, then renamed.

Lightning's `TorchCheckpointIO` serialises first and then writes the bytes straight to the final
path, so a kill or a full disk during the write leaves a truncated ``last.ckpt`` and no previous
checkpoint to fall back to. `AtomicCheckpointIO` writes through `zoo.atomic.write_atomic`: at every
moment the final path holds either the previous checkpoint or the new one.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning_fabric.utilities.types import _PATH
from pytorch_lightning.plugins.io import TorchCheckpointIO

from zoo.atomic import write_atomic


def atomic_save(obj: Any, path: _PATH) -> None:
    """`torch.save` `obj` to the local `path` so that `path` is never seen half-written."""
    write_atomic(path, lambda file: torch.save(obj, file))


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local saves go through `atomic_save`; remote (fsspec) paths are
    saved as Lightning does."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, path)
