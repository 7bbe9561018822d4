"""Fixtures shared by the task tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytorch_lightning as pl


@pytest.fixture(scope="session")
def quiet_trainer() -> Callable[..., pl.Trainer]:
    """A factory of CPU trainers that log, checkpoint, print and sanity-check nothing unless asked."""

    def make(**kwargs) -> pl.Trainer:
        defaults = dict(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        return pl.Trainer(**(defaults | kwargs))

    return make
