"""The tasks' decoding: from a network's raw output to predictions, in the model input's pixels and,
given each image's `tasks.data.datasets.item_info`, in the image's own pixels. The tasks' ``predict``
and `zoo infer` (an exported model) decode through here, so both write the same predictions.

- classification: logits (B, C) -> ``probs`` and ``labels``;
- segmentation: logits (B, C, h, w) -> ``mask`` at the output's size and ``image_masks``, one class
  map per image at its own size (`mask_in_image`);
- pose: heatmaps (B, K, h, w) -> ``keypoints`` in input pixels and ``scores`` (the heatmap maxima),
  and ``image_keypoints`` in each image's pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from tasks.data.common import IGNORE_INDEX, input_to_image
from tasks.heatmaps import decode_heatmaps

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


def decode_classification(
    logits: torch.Tensor, input_size: tuple[int, int], info: dict[str, Any] | None = None
) -> dict[str, Any]:
    probs = logits.softmax(1)
    return {"probs": probs, "labels": probs.argmax(1)}


def decode_segmentation(
    logits: torch.Tensor, input_size: tuple[int, int], info: dict[str, Any] | None = None
) -> dict[str, Any]:
    prediction: dict[str, Any] = {"mask": logits.argmax(1)}
    if info is not None:
        prediction["image_masks"] = [
            mask_in_image(item, box, tuple(size.tolist()), input_size)
            for item, box, size in zip(logits, info["box"], info["size"], strict=True)
        ]
    return prediction


def decode_pose(
    heatmaps: torch.Tensor, input_size: tuple[int, int], info: dict[str, Any] | None = None
) -> dict[str, Any]:
    keypoints, scores = decode_heatmaps(heatmaps, input_size)
    prediction: dict[str, Any] = {"keypoints": keypoints, "scores": scores}
    if info is not None:
        prediction["image_keypoints"] = input_to_image(keypoints, info["box"].to(keypoints), input_size)
    return prediction


DECODERS: dict[str, Callable[..., dict[str, Any]]] = {
    "classification": decode_classification,
    "segmentation": decode_segmentation,
    "pose": decode_pose,
}
"""Task -> its decoder: ``decode(output, input_size, info=None)``."""
