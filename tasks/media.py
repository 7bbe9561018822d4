"""Pictures of predictions for W&B: images back to uint8, keypoints and skeletons drawn on them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from zoo.constants import IMAGENET_MEAN, IMAGENET_STD


def to_uint8_images(images: torch.Tensor) -> list[np.ndarray]:
    """Undo the ImageNet normalisation of a (B, 3, H, W) batch: a list of HxWx3 uint8 arrays."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    pixels = ((images.float() * std + mean).clamp(0, 1) * 255).round().byte()
    return list(pixels.permute(0, 2, 3, 1).cpu().numpy())


Pose = tuple[np.ndarray, np.ndarray, tuple[int, int, int]]
"""Keypoints (K, 2) in pixels, visibility (K,), and the RGB colour to draw them in."""


def draw_poses(
    image: np.ndarray, poses: Sequence[Pose], skeleton: Sequence[tuple[int, int]], scale: int = 4
) -> np.ndarray:
    """Draw each pose's visible joints and the limbs between them on one canvas; the image is
    upscaled ``scale`` times so a 64-px input stays readable."""
    canvas = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for keypoints, visibility, colour in poses:
        points = (np.asarray(keypoints, dtype=np.float64) + 0.5) * scale
        visible = np.asarray(visibility) > 0
        for a, b in skeleton:
            if visible[a] and visible[b]:
                draw.line([tuple(points[a]), tuple(points[b])], fill=colour, width=2)
        for (x, y), seen in zip(points, visible, strict=True):
            if seen:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=colour, width=2)
    return np.asarray(canvas)
