"""Semantic segmentation: cross-entropy over non-void pixels (255 = ignore) with an optional Dice
term and U-Net border weights (Ronneberger et al. 2015, eq. 2); mIoU, per-class IoU, Dice and pixel
accuracy; predicted masks overlaid on images in W&B."""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from zoo.blocks import fit_to

from .base import ClassTask
from .data.common import IGNORE_INDEX
from .heatmaps import last_output
from .metrics import segmentation_loss, segmentation_metrics, unet_weight_map

MASK_CHUNK = 2**22
"""Image pixels x classes resampled at once by `mask_in_image` (16 MB of float32)."""


def mask_in_image(
    logits: torch.Tensor, box: torch.Tensor, size: tuple[int, int], input_size: tuple[int, int]
) -> torch.Tensor:
    """The uint8 class map, of ``size`` (H, W), of an image whose region ``box`` (left, top, width,
    height) a model saw as an input of ``input_size``, from the model's logits (C, h, w).

    Each image pixel takes the bilinear interpolation of the logits at its place in the input, then the
    argmax (resampling scores, not labels, keeps boundaries smooth at any scale). The logits cover the
    input's centre h x w, all of it unless the model is a valid-padding U-Net; image pixels outside
    what they cover get `IGNORE_INDEX`. Rows are resampled in chunks, so a large image needs little memory.
    """
    num_classes, h, w = logits.shape
    (in_h, in_w), (height, width) = input_size, size
    left, top, box_w, box_h = (float(v) for v in box)

    def logit_coords(count: int, start: float, extent: float, side: int, covered: int) -> torch.Tensor:
        # image pixel -> input pixel (tasks.data.common.image_to_input) -> logits pixel (centred crop)
        return (torch.arange(count, dtype=torch.float64) + 0.5 - start) * side / extent - 0.5 - (side - covered) / 2

    xs, ys = logit_coords(width, left, box_w, in_w, w), logit_coords(height, top, box_h, in_h, h)
    inside_x, inside_y = (xs >= -0.5) & (xs <= w - 0.5), (ys >= -0.5) & (ys <= h - 0.5)
    grid_x, grid_y = (xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1  # grid_sample's align_corners=False
    mask = torch.full((height, width), IGNORE_INDEX, dtype=torch.uint8)
    rows = max(1, MASK_CHUNK // max(1, width * num_classes))
    source = logits.detach().float().unsqueeze(0)
    for start in range(0, height, rows):
        band_y = grid_y[start : start + rows]
        grid = torch.stack(torch.broadcast_tensors(grid_x[None, :], band_y[:, None]), dim=-1)
        sampled = F.grid_sample(
            source, grid[None].to(source), mode="bilinear", padding_mode="border", align_corners=False
        )
        labels = sampled[0].argmax(0).to(torch.uint8).cpu()
        keep = inside_y[start : start + rows, None] & inside_x[None, :]
        mask[start : start + rows] = torch.where(keep, labels, mask[start : start + rows])
    return mask


class SegmentationTask(ClassTask):
    """Any zoo model with a segmentation head.

    Args:
        num_classes: classes including background; from the data module when None.
        class_names: names for the W&B mask legend; from the data module when None.
        dice_weight: weight of the soft Dice term added to the cross-entropy (0: none).
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
        dice_weight: float = 0.0,
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
        class map per image at the image's own size (`mask_in_image`)."""
        logits = last_output(self(images))
        prediction: dict[str, Any] = {"mask": logits.argmax(1)}
        if info is not None:
            input_size = tuple(images.shape[-2:])
            prediction["image_masks"] = [
                mask_in_image(item, box, tuple(size.tolist()), input_size)
                for item, box, size in zip(logits, info["box"], info["size"], strict=True)
            ]
        return prediction

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
