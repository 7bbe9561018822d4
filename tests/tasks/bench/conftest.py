"""Tiny presets for the bench tests (the `tiny` fixture): 32-px images, widths of 4-8 channels, 2
training steps, so a cell takes seconds; W&B offline."""

from pathlib import Path

import pytest


class TinyPreset:
    """The pieces of a tiny preset: the header with its defaults, cell lines, and `write`."""

    header = """\
description: a tiny preset for the tests
defaults: {steps: 2, train_size: 8, val_size: 4, num_workers: 0, batch_size: 4, image_size: 32}
timing: {warmup: 1, repeats: 2}
cells:
"""
    resnet = "  - {model: resnet20, task: classification, model_kwargs: {widths: [4, 4, 8]}}\n"
    hourglass = "  - {model: hourglass1, task: pose, model_kwargs: {channels: 8, depth: 2}}\n"
    diverging = (  # SGD at lr 1e30: the loss is NaN at the second step, the task raises FloatingPointError
        "  - {name: diverges, model: resnet20, task: classification, model_kwargs: {widths: [4, 4, 8]},"
        " optimizer: sgd, lr: 1.0e+30}\n"
    )

    def write(self, folder: Path, *cells: str, name: str = "tiny") -> Path:
        """A preset file with the tiny defaults and the given cell lines."""
        path = folder / f"{name}.yaml"
        path.write_text(self.header + "".join(cells))
        return path


@pytest.fixture
def tiny() -> TinyPreset:
    return TinyPreset()


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
