"""Fixtures shared by the task tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytorch_lightning as pl

from tasks.trainers import quiet_trainer as make_quiet_trainer


@pytest.fixture(scope="session")
def quiet_trainer() -> Callable[..., pl.Trainer]:
    """`tasks.trainers.quiet_trainer`: CPU trainers that log, checkpoint, print and sanity-check
    nothing unless asked."""
    return make_quiet_trainer
