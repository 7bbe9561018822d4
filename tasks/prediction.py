"""`zoo predict` writes what it predicted: one safetensors file of the task's decoded predictions
(class probabilities and labels, masks, or keypoints and scores) for the whole predict set.

Lightning's `Trainer.predict` only returns the predictions to the caller; from the command line
they would be lost. The file sits in the run folder next to the checkpoints, with the
data set index of every row, so a user can pair each prediction with its image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.utilities import rank_zero_info
from safetensors.torch import save

from zoo.atomic import write_atomic


class PredictionWriter(BasePredictionWriter):
    """Save ``predictions.safetensors`` (``predictions-rank<r>.safetensors`` under DDP) at the end of
    `zoo predict`: every key of the task's `predict()` concatenated over batches, plus ``index``,
    the data set index of each row.

    Args:
        output_dir: folder of the file; ``None`` means the trainer's ``default_root_dir``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: list[Any],
        batch_indices: list[Any],
    ) -> None:
        batches, indices = _first_dataloader(predictions), _first_dataloader(batch_indices)
        if not batches:
            return
        tensors = {key: torch.cat([b[key].cpu() for b in batches]).contiguous() for key in batches[0]}
        tensors["index"] = torch.tensor([i for batch in indices for i in batch], dtype=torch.long)
        name = (
            "predictions.safetensors"
            if trainer.world_size == 1
            else f"predictions-rank{trainer.global_rank}.safetensors"
        )
        path = Path(self.output_dir or trainer.default_root_dir) / name
        metadata = {"model": pl_module.model_name, "task": pl_module.task}
        write_atomic(path, lambda file: file.write(save(tensors, metadata=metadata)))
        rank_zero_info(f"archzoo: wrote {len(tensors['index'])} predictions ({', '.join(tensors)}) to {path}")


def _first_dataloader(items: list[Any]) -> list[Any]:
    """Lightning nests per-dataloader lists when there are several predict loaders; we have one."""
    return items[0] if items and isinstance(items[0], list) else items
