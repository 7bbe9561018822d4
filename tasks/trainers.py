"""`quiet_trainer`: the Lightning Trainer of the runs archzoo makes for itself (bench cells, the
analyze studies, the Lightning-overhead check, tests), which log, checkpoint, print and
sanity-check nothing unless asked."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

QUIET: dict[str, Any] = dict(
    accelerator="cpu",
    devices=1,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    num_sanity_val_steps=0,
)


def quiet_trainer(**overrides: Any) -> pl.Trainer:
    """A `pl.Trainer` with the `QUIET` settings, any of which ``overrides`` replaces."""
    return pl.Trainer(**(QUIET | overrides))
