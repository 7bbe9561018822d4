"""Helpers shared by the synthetic sets, the format readers and the transforms.

They live in one place so that every source agrees on the same conventions: how an image is
read and how a failure names its file, which keypoints count as inside an image, and how
left/right joint pairs are derived and applied. Keypoint coordinates throughout the data layer
are in pixels, with the centre of pixel (column i, row j) at (x, y) = (i, j).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

IGNORE_INDEX = 255
"""Mask value for pixels that take no part in the segmentation loss or metrics (VOC convention)."""

Points = TypeVar("Points", np.ndarray, torch.Tensor)


class BadItemError(ValueError):
    """A damaged dataset item (unreadable file, mask of the wrong size, malformed annotation); the
    message names the item (index, file or annotation id), the problem and the fix."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array.

    Raises OSError whose message names `path` when the file is missing, truncated or not an
    image, because PIL's own messages often do not say which file failed.
    """
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise OSError(f"cannot read image {path}: {error}") from error


def flip_pairs_from_names(names: Sequence[str]) -> list[tuple[int, int]]:
    """Pair every joint named "left_<part>" with the joint named "right_<part>" (COCO naming).

    Returns (left_index, right_index) tuples in the order of the left joints. A left joint
    without a right partner, or the reverse, raises ValueError, since a flip could not swap it.
    """
    index = {name: i for i, name in enumerate(names)}
    pairs = []
    for name, i in index.items():
        for side, other in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(side) and other + name[len(side) :] not in index:
                raise ValueError(
                    f"joint {name!r} has no partner {other + name[len(side) :]!r} among {list(names)}; "
                    "a horizontal flip needs both sides"
                )
        if name.startswith("left_"):
            pairs.append((i, index["right_" + name[len("left_") :]]))
    return pairs


def flip_permutation(num_joints: int, flip_pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Index array that reorders joints after a horizontal flip: joint j takes the data of perm[j].

    A flip turns the left wrist into something that looks like a right wrist, so the arrays are
    reordered to keep index = meaning. Indices outside range(num_joints) raise ValueError.
    """
    perm = np.arange(num_joints)
    for left, right in flip_pairs:
        if not (0 <= left < num_joints and 0 <= right < num_joints):
            raise ValueError(f"flip pair {(left, right)} is out of range for {num_joints} joints")
        perm[left], perm[right] = right, left
    return perm


def inside_image(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean (K,) array: which (K, 2) xy keypoints lie on a pixel of a width x height image."""
    x, y = keypoints[:, 0], keypoints[:, 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def square_box(
    x: float, y: float, width: float, height: float, scale: float = 1.0
) -> tuple[float, float, float, float]:
    """The square around the centre of the box (x, y, width, height), of side ``max(width, height) * scale``:
    ``(left, top, side, side)``. A person box becomes a top-down crop this way (SimpleBaseline, Xiao et al.
    2018, sec. 3.1, pads the box to the input's aspect ratio), and a whole image a square one, by padding."""
    side = max(width, height) * scale
    return x + width / 2 - side / 2, y + height / 2 - side / 2, side, side


def crop_box(image: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """The region ``box`` = (left, top, width, height) of an HxWx3 image, resampled bilinearly to size x size.

    Parts of the box outside the image are black. Output pixel i samples the image at
    ``left + (i + 0.5) * width / size`` (PIL's EXTENT transform), the map `image_to_input` applies to points.
    """
    left, top, width, height = box
    return np.asarray(
        Image.fromarray(image).transform(
            (size, size),
            Image.Transform.EXTENT,
            (left, top, left + width, top + height),
            resample=Image.Resampling.BILINEAR,
        )
    )


def image_to_input(points: Points, box: Points, input_size: tuple[int, int]) -> Points:
    """Image pixels -> the pixels of a model input that shows the region ``box`` of the image.

    ``points`` are ``(..., K, 2)`` xy, ``box`` is ``(..., 4)`` (left, top, width, height) in image pixels,
    ``input_size`` the input's (H, W). Pixel centres are at integers in both (see the module docstring).
    """
    scale = _box_scale(box, input_size)
    return (points + 0.5 - box[..., None, :2]) / scale - 0.5


def input_to_image(points: Points, box: Points, input_size: tuple[int, int]) -> Points:
    """The inverse of `image_to_input`: keypoints predicted on a crop or a resized image, in the image's pixels."""
    scale = _box_scale(box, input_size)
    return (points + 0.5) * scale + box[..., None, :2] - 0.5


def _box_scale(box: Points, input_size: tuple[int, int]) -> Points:
    """Image pixels per input pixel, (..., 1, 2) as (x, y)."""
    height, width = input_size
    return (
        box[..., None, 2:] / box.new_tensor([width, height])
        if isinstance(box, torch.Tensor)
        else (box[..., None, 2:] / np.array([width, height]))
    )
