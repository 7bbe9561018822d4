"""Semantic segmentation: cross-entropy over non-void pixels (255 = ignore) with an optional Dice
term and U-Net border weights (Ronneberger et al. 2015, eq. 2); mIoU, per-class IoU, Dice and pixel
accuracy; predicted masks overlaid on images in W&B."""

from __future__ import annotations

import functools
from typing import Any

import torch

from zoo.blocks import fit_to

from .base import ClassTask
from .data.common import IGNORE_INDEX
from .decoding import decode_segmentation
from .heatmaps import last_output
from .metrics import segmentation_loss, segmentation_metrics, unet_weight_map


class SegmentationTask(ClassTask):
    """Any zoo model with a segmentation head.

    Args:
        num_classes: classes including background; from the data module when None.
        class_names: names for the W&B mask legend; from the data module when None.
        dice_weight: weight of the soft Dice term added to the cross-entropy (0: none). The default 0.5
            is every built-in config's: on the digits scenes it lifted the mIoU after 15 epochs from
            0.550 to 0.599 (docs/ablation.md).
        border_weight: weight pixels by the U-Net paper's map (w0=10, sigma=5), which stresses
            the thin background gaps between touching objects.
        label_smoothing: the cross-entropy's smoothing.
        **kwargs: the model and the optimisation, see `ZooTask`.

    A valid-padding U-Net predicts a centre crop of its input (572 -> 388); the mask is cropped to
    match, as in the paper's overlap-tile strategy.
    """

    task = "segmentation"
    monitor = "val/miou"

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        dice_weight: float = 0.5,
        border_weight: bool = False,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)

    def configure_losses(self) -> None:
        hp = self.hparams
        self.criterion = functools.partial(
            segmentation_loss, ignore_index=IGNORE_INDEX, dice_weight=hp.dice_weight, label_smoothing=hp.label_smoothing
        )

    def configure_metrics(self) -> None:
        metrics = segmentation_metrics(self.num_classes, IGNORE_INDEX)
        self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")

    def _match(self, output: Any, mask: torch.Tensor) -> torch.Tensor:
        """The mask cropped to the prediction (only a valid-padding U-Net predicts less)."""
        size = last_output(output).shape[-2:]
        return mask if mask.shape[-2:] == size else fit_to(mask, size)

    def compute_loss(self, output: Any, mask: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        mask = self._match(output, mask)
        weights = unet_weight_map(mask, ignore_index=IGNORE_INDEX) if self.hparams.border_weight else None
        return self.criterion(output, mask, weight_map=weights)

    def update_metrics(self, output: Any, mask: torch.Tensor, images: torch.Tensor, split: str) -> None:
        metrics = self.val_metrics if split == "val" else self.test_metrics
        metrics.update(last_output(output), self._match(output, mask))

    def predict(self, images: torch.Tensor, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """``mask``: the class map at the model's output size; with ``info``, ``image_masks``: one uint8
        class map per image at the image's own size (`tasks.decoding.decode_segmentation`)."""
        return decode_segmentation(last_output(self(images)), tuple(images.shape[-2:]), info)

    def _log_epoch_metrics(self, split: str) -> None:
        metrics = self.val_metrics if split == "val" else self.test_metrics
        values = metrics.compute()
        per_class = values.pop(f"{split}/iou_per_class")
        names = self.label_names
        values.update({f"{split}/iou/{names[i]}": v for i, v in enumerate(per_class) if not torch.isnan(v)})
        self.log_dict(values, sync_dist=False)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def log_media(self, images: torch.Tensor, output: Any, mask: torch.Tensor) -> None:
        run = self.wandb_run()
        if run is None:
            return
        import wandb

        from .media import to_uint8_images

        pred = last_output(output).argmax(1)
        mask = self._match(output, mask)
        names = self.label_names
        labels = {i: name for i, name in enumerate(names)} | {IGNORE_INDEX: "ignore"}
        pictures = [
            wandb.Image(
                fit_to(torch.as_tensor(img).permute(2, 0, 1), m.shape[-2:]).permute(1, 2, 0).numpy(),
                masks={
                    "ground_truth": {"mask_data": m.cpu().numpy(), "class_labels": labels},
                    "prediction": {"mask_data": p.cpu().numpy(), "class_labels": labels},
                },
            )
            for img, m, p in zip(to_uint8_images(images), mask, pred, strict=True)
        ]
        run.log({"val/predictions": pictures, "trainer/global_step": self.global_step})
