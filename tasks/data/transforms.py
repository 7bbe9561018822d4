"""albumentations pipelines that keep image, mask and keypoints aligned, and turn items into tensors.

One pipeline per (task, train/eval). albumentations moves the mask and the keypoints with every
spatial transform of the image; this module adds what it lacks in version 2.0.8: a horizontal flip
also swaps left and right joints (so index keeps meaning), and a keypoint that a transform moves
off the image keeps its place in the (K, 2) array but gets visibility 0.

Keypoints are in pixels with pixel centres at integers. Flips and affine transforms are exact in
that convention. albumentations' resizes map x to x * s rather than (x + 0.5) * s - 0.5, a shift of
(s - 1) / 2 output pixels; the pose sources (synthetic figures, COCO crops) are made at image_size,
so the pose pipelines never resize keypoints.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import numpy as np
import torch

# albumentations 2.0.8 asks PyPI for a newer version on import; a training run should not phone out
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
from albumentations.pytorch import ToTensorV2  # noqa: E402

from tasks.data.common import IGNORE_INDEX, flip_permutation, inside_image
from zoo.constants import IMAGENET_MEAN, IMAGENET_STD
from zoo.registry import TASKS

PoseTarget = dict[str, torch.Tensor]


class TaskTransform:
    """Applies albumentations transforms to one item of a task and returns `(image, target)` tensors.

    `transforms` is a flat list of augmentations (spatial and colour); normalisation with the ImageNet mean
    and std and the tensor conversion are appended. Call it with the item as a source returns it:
      - classification: `(image, label)` -> `(image, label)`, label an int;
      - segmentation: `(image, mask)` -> `(image, mask)`, mask an int64 HxW tensor (255 = ignore,
        also where a transform moved the image off the canvas);
      - pose: `(image, keypoints (K, 2), visibility (K,)[, extras])` -> `(image, {"keypoints": float32
        (K, 2), "visibility": float32 (K,), **extras})`, in output pixels. After a horizontal flip, the
        `flip_pairs` (left, right) joint indices swap places; joints off the image get visibility 0.
        ``extras`` (COCO's ``image_id`` and crop ``box``) pass through as tensors, untransformed.
    image is a float32 CxHxW tensor. `build_transforms` makes the standard pipelines.
    """

    def __init__(
        self, task: str, transforms: Sequence[A.BasicTransform], flip_pairs: Sequence[tuple[int, int]] | None = None
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task={task!r} is not one of {TASKS}")
        if task == "pose" and flip_pairs is None and any(isinstance(t, A.HorizontalFlip) for t in transforms):
            raise ValueError("a pose pipeline that flips needs flip_pairs (e.g. the dataset's flip_pairs)")
        self.task, self.flip_pairs = task, flip_pairs
        self.compose = A.Compose(
            [*transforms, A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD), ToTensorV2()],
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False) if task == "pose" else None,
            save_applied_params=True,  # to see whether HorizontalFlip ran
        )

    def set_random_seed(self, seed: int) -> None:
        """Reseed the augmentation RNG (albumentations keeps its own, outside numpy's and torch's)."""
        self.compose.set_random_seed(seed)

    def seed_item(self, entropy: Sequence[int]) -> None:
        """Draw the next item's augmentations from `entropy` alone, e.g. (seed, epoch, index).

        One numpy and one Python generator serve the whole pipeline (albumentations'
        ``set_random_state``): ``set_random_seed`` builds a pair per transform, which costs more than
        the transforms of a small image.
        """
        generator = np.random.default_rng(list(entropy))
        self.compose.set_random_state(generator, random.Random(int(generator.integers(2**63))))

    def __call__(self, image: np.ndarray, *target: object) -> tuple[torch.Tensor, object]:
        if self.task == "classification":
            (label,) = target
            return self.compose(image=image)["image"], int(label)
        if self.task == "segmentation":
            (mask,) = target
            out = self.compose(image=image, mask=mask)
            return out["image"], out["mask"].long()
        return self._pose(image, *target)

    def image(self, image: np.ndarray) -> torch.Tensor:
        """The pipeline on an image alone (no target): what `zoo predict` feeds the model."""
        return self.compose(image=image)["image"]

    def _pose(
        self, image: np.ndarray, keypoints: np.ndarray, visibility: np.ndarray, extras: dict | None = None
    ) -> tuple[torch.Tensor, PoseTarget]:
        keypoints, visibility = np.asarray(keypoints, np.float32), np.asarray(visibility, np.float32)
        if keypoints.ndim != 2 or keypoints.shape[1] != 2 or visibility.shape != keypoints.shape[:1]:
            raise ValueError(
                f"pose items need keypoints of shape (K, 2) and visibility of shape (K,), got "
                f"{keypoints.shape} and {visibility.shape}"
            )
        out = self.compose(image=image, keypoints=keypoints)
        moved = np.asarray(out["keypoints"], np.float32)[:, :2]
        if any(name == "HorizontalFlip" for name, _ in out["applied_transforms"]):
            perm = flip_permutation(len(moved), self.flip_pairs)
            moved, visibility = moved[perm], visibility[perm]
        height, width = out["image"].shape[1:]
        visibility = visibility * inside_image(moved, width, height)
        target = {
            "keypoints": torch.from_numpy(np.ascontiguousarray(moved)),
            "visibility": torch.from_numpy(visibility.astype(np.float32)),
        }
        return out["image"], target | {key: torch.as_tensor(value) for key, value in (extras or {}).items()}


class PredictTransform:
    """``(image, info) -> (image tensor, info)``: a `TaskTransform` on the image of a `zoo predict` item."""

    def __init__(self, transform: TaskTransform) -> None:
        self.transform = transform

    def __call__(self, image: np.ndarray, info: dict) -> tuple[torch.Tensor, dict]:
        return self.transform.image(image), info


AUGMENT_PARTS = {
    "classification": ("crop", "flip", "color"),
    "segmentation": ("scale", "rotate", "flip", "color"),
    "pose": ("scale", "rotate", "flip", "color"),
}
"""The parts of each task's training augmentation, in the order they are applied:

- ``crop``: a random resized crop of 70-100% of the area (classification);
- ``scale``: a random affine of scale 0.75-1.25 and shift up to 10% (p=0.8), on the resized image;
- ``rotate``: a random rotation up to 30 degrees, in the same affine;
- ``flip``: a horizontal flip (p=0.5), swapping left and right joints;
- ``color``: colour jitter (brightness, contrast, saturation 0.3, hue 0.05; p=0.8).
"""
AUGMENT_LEVELS = {
    "none": {task: () for task in AUGMENT_PARTS},
    "light": {"classification": ("crop",), "segmentation": ("color",), "pose": ("color",)},
    "strong": AUGMENT_PARTS,
}
"""Named sets of parts per task. ``light``, the default, is the augmentation that does not slow a short
schedule down: for classification the random crop of He et al. 2016 (sec. 4.2) without its flip (a
mirrored image is not the same class in every data set: with the flip a 10-epoch ResNet-18 on
handwritten digits lost a point of top-1, docs/ablation.md); for segmentation and pose the colour
jitter alone, because every geometric part cost mIoU at 15 epochs on a real set. ``strong``, all the parts, pays off on
longer schedules and smaller data sets."""
DEFAULT_AUGMENT = "light"


def augment_parts(task: str, augment: bool | str) -> tuple[str, ...]:
    """The parts an ``augment`` setting names: a level of `AUGMENT_LEVELS`, True (``strong``: all parts),
    False (``none``), or parts of `AUGMENT_PARTS` separated by commas ("flip,color"); anything else
    raises ValueError naming the valid choices."""
    parts = AUGMENT_PARTS[task]
    if augment is True or augment is False:
        return parts if augment else ()
    if augment in AUGMENT_LEVELS:
        return AUGMENT_LEVELS[augment][task]
    chosen = tuple(part.strip() for part in str(augment).split(",") if part.strip())
    unknown = [part for part in chosen if part not in parts]
    if unknown or not chosen:
        raise ValueError(
            f"augment={augment!r}: use true, false, one of {', '.join(AUGMENT_LEVELS)}, or {task} parts "
            f"separated by commas among {', '.join(parts)}"
        )
    return tuple(part for part in parts if part in chosen)


def build_transforms(
    task: str,
    image_size: int,
    train: bool,
    flip_pairs: Sequence[tuple[int, int]] | None = None,
    augment: bool | str = DEFAULT_AUGMENT,
) -> TaskTransform:
    """The pipeline for `task` at `image_size` x `image_size` pixels.

    Eval: resize only. Train: the parts of `AUGMENT_PARTS` that ``augment`` names (`augment_parts`;
    default ``light``), after a resize (a random resized crop resizes by itself). `flip_pairs` (left, right)
    joint indices are required for pose training with flips, so that a flip can swap them. An unknown
    task or a size < 1 raises ValueError.
    """
    if task not in AUGMENT_PARTS:
        raise ValueError(f"task={task!r} is not one of {TASKS}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    size = (image_size, image_size)
    parts = augment_parts(task, augment) if train else ()
    transforms: list[A.BasicTransform] = (
        [A.RandomResizedCrop(size=size, scale=(0.7, 1.0))] if "crop" in parts else [A.Resize(*size)]
    )
    if "scale" in parts or "rotate" in parts:
        transforms.append(
            A.Affine(
                scale=(0.75, 1.25) if "scale" in parts else 1.0,
                translate_percent=(-0.1, 0.1) if "scale" in parts else 0.0,
                rotate=(-30, 30) if "rotate" in parts else 0.0,
                fill_mask=IGNORE_INDEX,
                p=0.8,
            )
        )
    if "flip" in parts:
        transforms.append(A.HorizontalFlip(p=0.5))
    if "color" in parts:
        transforms.append(A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.8))
    return TaskTransform(task, transforms, flip_pairs)
