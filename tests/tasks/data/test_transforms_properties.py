"""Property-based tests (hypothesis) that the training augmentation of tasks.data.transforms keeps
image, mask and keypoints aligned, for any augmentation seed and any layout of markers.

The image is grey: markers of a few distinct grey levels on black. ColorJitter then changes levels
only monotonically (brightness and contrast scale, saturation and hue leave grey alone), so after any
augmentation a marker is still told apart by its rank, and the pixel under each moved keypoint, or
the pixels under each mask class, must show the marker that was drawn there.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from tasks.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transforms

SIZE = 64
CELL = 16  # markers sit in distinct cells of a 4 x 4 grid, so they never touch, even scaled by 1.25
RADIUS = 4
POSE_LEVELS = (60, 60, 100, 140)  # joints 0 and 1 are a left/right pair: the same level, as a flip swaps them
FLIP_PAIRS = [(0, 1)]
SEG_LEVELS = (50, 90, 130)  # class c + 1 is drawn at SEG_LEVELS[c]


def grey(image: torch.Tensor) -> np.ndarray:
    """The 0-255 grey level of a normalised CxHxW tensor (the channel mean after undoing Normalize)."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((image * std + mean) * 255).mean(0).numpy()


cells = st.lists(st.integers(0, (SIZE // CELL) ** 2 - 1), min_size=4, max_size=4, unique=True)
seeds = st.integers(0, 2**31 - 1)


@given(cells=cells, seed=seeds)
def test_pose_augmentation_moves_each_keypoint_with_its_marker(cells, seed):
    centres = np.array([(c % 4 * CELL + CELL // 2, c // 4 * CELL + CELL // 2) for c in cells], np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE), np.uint8)
    for (x, y), level in zip(centres, POSE_LEVELS, strict=True):
        image[(xx - x) ** 2 + (yy - y) ** 2 <= RADIUS**2] = level
    transform = build_transforms("pose", SIZE, train=True, flip_pairs=FLIP_PAIRS, augment="strong")
    transform.set_random_seed(seed)
    out, target = transform(np.repeat(image[..., None], 3, axis=2), centres, np.ones(4, np.float32))
    values, moved, visible = grey(out), target["keypoints"].numpy(), target["visibility"].numpy()

    inside = (moved >= -0.5).all(1) & (moved < SIZE - 0.5).all(1)
    np.testing.assert_array_equal(visible, inside.astype(np.float32))  # off the image: visibility 0
    seen = {k: values[int(round(y)), int(round(x))] for k, (x, y) in enumerate(moved) if visible[k]}
    background = np.median(values)
    for k, value in seen.items():
        assert value > background + 20, f"joint {k} at {moved[k]} is not on its marker (seed {seed})"
        for j, other in seen.items():
            if POSE_LEVELS[j] > POSE_LEVELS[k]:
                assert other > value + 10, f"joints {k} and {j} show each other's markers (seed {seed})"
            elif POSE_LEVELS[j] == POSE_LEVELS[k]:
                assert abs(other - value) < 10


@given(cells=cells.map(lambda c: c[:3]), seed=seeds)
def test_segmentation_augmentation_moves_the_mask_with_the_image(cells, seed):
    image = np.zeros((SIZE, SIZE), np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    half = CELL // 2 - 1  # squares of 14 px, 2 px apart
    for label, (cell, level) in enumerate(zip(cells, SEG_LEVELS, strict=True), start=1):
        x, y = cell % 4 * CELL + CELL // 2, cell // 4 * CELL + CELL // 2
        image[y - half : y + half, x - half : x + half] = level
        mask[y - half : y + half, x - half : x + half] = label
    transform = build_transforms("segmentation", SIZE, train=True, augment="strong")
    transform.set_random_seed(seed)
    out, out_mask = transform(np.repeat(image[..., None], 3, axis=2), mask)
    values, labels = grey(out), out_mask.numpy()
    assert labels.shape == values.shape == (SIZE, SIZE)

    background = np.median(values[labels == 0])
    lowest = np.median(values[labels == 1]) if (labels == 1).any() else None
    bright = values > (background + (lowest if lowest is not None else background + 40)) / 2
    marked = (labels > 0) & (labels != 255)
    if marked.any():
        iou = (bright & marked).sum() / (bright | marked).sum()
        assert iou > 0.7, f"mask and image disagree (IoU {iou:.2f}, seed {seed})"
    medians = [np.median(values[labels == c]) for c in (1, 2, 3) if (labels == c).sum() > 20]
    assert medians == sorted(medians) and len(set(np.round(medians))) == len(medians), (medians, seed)
    if (labels == 255).any():  # moved off the canvas: ignored in the mask, black in the image
        assert np.median(values[labels == 255]) < background + 20
