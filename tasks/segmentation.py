"""Semantic segmentation: cross-entropy over non-void pixels (255 = ignore) with an optional Dice
term and U-Net border weights (Ronneberger et al. 2015, eq. 2); mIoU, per-class IoU, Dice and pixel
accuracy; predicted masks overlaid on images in W&B (DESIGN.md section 4)."""

from __future__ import annotations

from typing import Any

import torch

from zoo.blocks import fit_to

from .base import ClassTask, last_output
from .metrics import segmentation_loss, segmentation_metrics, unet_weight_map

IGNORE_INDEX = 255


class SegmentationTask(ClassTask):
    """Any zoo model with a segmentation head.

    Args:
        num_classes: classes including background; from the data module when None.
        class_names: names for the W&B mask legend; from the data module when None.
        dice_weight: weight of the soft Dice term added to the cross-entropy (0: none).
        border_weight: weight pixels by the U-Net paper's map (w0=10, sigma=5), which stresses
            the thin background gaps between touching objects.
        Others: see `ZooTask`.

    A valid-padding U-Net predicts a centre crop of its input (572 -> 388); the mask is cropped to
    match, as in the paper's overlap-tile strategy.
    """

    task = "segmentation"
    monitor = "val/miou"

    def __init__(
        self,
        model: str = "unet_same",
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        dice_weight: float = 0.0,
        border_weight: bool = False,
        label_smoothing: float = 0.0,
        model_kwargs: dict[str, Any] | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        scheduler: str = "cosine",
        warmup_steps: int = 0,
        num_media: int = 4,
    ) -> None:
        super().__init__(model, model_kwargs, optimizer, lr, momentum, weight_decay, scheduler, warmup_steps, num_media)
        self.save_hyperparameters()
        self.num_classes, self.class_names = num_classes, class_names
        if num_classes is not None:
            self.build_model()

    def build_model(self) -> None:
        super().build_model()
        if not hasattr(self, "val_metrics"):
            metrics = segmentation_metrics(self.num_classes, IGNORE_INDEX)
            self.val_metrics, self.test_metrics = metrics.clone(prefix="val/"), metrics.clone(prefix="test/")

    def _match(self, output: Any, mask: torch.Tensor) -> torch.Tensor:
        """The mask cropped to the prediction (only a valid-padding U-Net predicts less)."""
        size = last_output(output).shape[-2:]
        return mask if mask.shape[-2:] == size else fit_to(mask, size)

    def compute_loss(self, output: Any, mask: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        mask = self._match(output, mask)
        weights = unet_weight_map(mask, ignore_index=IGNORE_INDEX) if self.hparams.border_weight else None
        return segmentation_loss(
            output, mask, IGNORE_INDEX, self.hparams.dice_weight, weights, self.hparams.label_smoothing
        )

    def update_metrics(self, output: Any, mask: torch.Tensor, images: torch.Tensor, split: str) -> None:
        metrics = self.val_metrics if split == "val" else self.test_metrics
        metrics.update(last_output(output), self._match(output, mask))

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mask": last_output(self(images)).argmax(1)}

    def _log_epoch_metrics(self, split: str) -> None:
        metrics = self.val_metrics if split == "val" else self.test_metrics
        values = metrics.compute()
        per_class = values.pop(f"{split}/iou_per_class")
        names = self.class_names or [str(i) for i in range(self.num_classes)]
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
        names = self.class_names or [str(i) for i in range(self.num_classes)]
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
