"""Tests of the task pipelines: output formats, and image/mask/keypoints staying aligned."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from tasks.data.modules import SegmentationData
from tasks.data.transforms import TaskTransform, augment_parts, build_transforms
from zoo.constants import IMAGENET_MEAN, IMAGENET_STD

SIZE = 48


def unnormalise(image: torch.Tensor) -> np.ndarray:
    """HxWx3 float image in [0, 1] from a normalised CxHxW tensor."""
    return (image.permute(1, 2, 0).numpy() * IMAGENET_STD + IMAGENET_MEAN).clip(0, 1)


def centroid(weights: np.ndarray) -> np.ndarray:
    ys, xs = np.indices(weights.shape)
    return np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()


def blobs() -> tuple[np.ndarray, np.ndarray]:
    """A black image with a red 3x3 blob centred at (12, 24) and a green one at (36, 24); their centres."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[23:26, 11:14, 0] = 255
    image[23:26, 35:38, 1] = 255
    return image, np.array([[12, 24], [36, 24]], np.float32)


@pytest.mark.parametrize("train", [False, True])
def test_outputs_are_tensors_of_the_documented_types(train):
    image = np.full((20, 30, 3), 128, np.uint8)
    out, label = build_transforms("classification", 16, train)(image, 3)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32 and label == 3
    out, mask = build_transforms("segmentation", 16, train)(image, np.ones((20, 30), np.uint8))
    assert out.shape == (3, 16, 16) and mask.shape == (16, 16) and mask.dtype == torch.int64
    keypoints, visibility = np.array([[5, 5], [20, 10]], np.float32), np.ones(2, np.float32)
    out, target = build_transforms("pose", 16, train, flip_pairs=[(0, 1)])(image, keypoints, visibility)
    assert target["keypoints"].shape == (2, 2) and target["keypoints"].dtype == torch.float32
    assert target["visibility"].shape == (2,) and target["visibility"].dtype == torch.float32


def test_eval_normalises_with_imagenet_statistics():
    image = np.broadcast_to(np.round(np.array(IMAGENET_MEAN) * 255).astype(np.uint8), (8, 8, 3)).copy()
    out, _ = build_transforms("classification", 8, train=False)(image, 0)
    assert out.abs().max() < 0.01


def test_flip_mirrors_keypoints_and_swaps_left_and_right():
    transform = TaskTransform("pose", [A.HorizontalFlip(p=1)], flip_pairs=[(1, 2)])
    keypoints = np.array([[3, 4], [5, 6], [20, 7]], np.float32)
    _, target = transform(np.zeros((10, 30, 3), np.uint8), keypoints, np.array([1, 0, 1], np.float32))
    # pixel x of a 30 pixel wide image goes to 29 - x; joints 1 and 2 trade places
    assert target["keypoints"].tolist() == [[26, 4], [9, 7], [24, 6]]
    assert target["visibility"].tolist() == [1, 1, 0]


def test_random_pose_augmentation_keeps_keypoints_on_their_pixels_and_left_on_the_left():
    image, centres = blobs()
    transform = build_transforms("pose", SIZE, train=True, flip_pairs=[(0, 1)], augment="strong")
    flipped = checked = 0
    for seed in range(40):
        transform.set_random_seed(seed)
        out, target = transform(image, centres, np.ones(2, np.float32))
        pixels = unnormalise(out)
        red, green = (np.clip(pixels[..., a] - pixels[..., b], 0, None) for a, b in ((0, 1), (1, 0)))
        if not (target["visibility"].all() and red.max() > 0.3 and green.max() > 0.3):
            continue  # a blob was pushed off the image
        spots = {"red": centroid(red * (red > 0.3)), "green": centroid(green * (green > 0.3))}
        left, right = sorted(spots, key=lambda name: spots[name][0])
        flipped += left == "green"
        # joint 0 is the left-hand joint: it lies on whichever blob ended up on the left
        assert np.allclose(target["keypoints"][0], spots[left], atol=0.5)
        assert np.allclose(target["keypoints"][1], spots[right], atol=0.5)
        checked += 1
    assert checked >= 20 and 0 < flipped < checked


def test_random_segmentation_augmentation_keeps_the_mask_under_its_pixels():
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[10:15, 28:33] = 255
    mask = np.ones((SIZE, SIZE), np.uint8)
    mask[10:15, 28:33] = 3
    transform = build_transforms("segmentation", SIZE, train=True, augment="strong")
    padded = 0
    for seed in range(30):
        transform.set_random_seed(seed)
        out, moved = transform(image, mask)
        bright = unnormalise(out).mean(axis=2)
        bright = bright - np.median(bright)
        x, y = np.rint(centroid(bright * (bright > 0.5 * bright.max()))).astype(int)
        assert moved[y, x] == 3  # the mask pixel under the bright blob is its class
        assert np.allclose(centroid((moved == 3).numpy().astype(float)), (x, y), atol=1.5)
        padded += int((moved == 255).any())
    assert padded > 0  # canvas exposed by the affine is ignored, not called background


def test_keypoints_moved_off_the_image_keep_their_place_but_turn_invisible():
    transform = TaskTransform("pose", [A.Affine(translate_px={"x": (20, 20), "y": (0, 0)}, p=1)])
    keypoints = np.array([[5, 5], [40, 5]], np.float32)
    _, target = transform(np.zeros((SIZE, SIZE, 3), np.uint8), keypoints, np.ones(2, np.float32))
    assert target["keypoints"].tolist() == [[25, 5], [60, 5]]
    assert target["visibility"].tolist() == [1, 0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="classification"):
        build_transforms("detection", 32, train=False)
    with pytest.raises(ValueError, match="flip_pairs"):
        build_transforms("pose", 32, train=True, augment="strong")
    transform = build_transforms("pose", 32, train=False)
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        transform(np.zeros((32, 32, 3), np.uint8), np.zeros((3, 3), np.float32), np.ones(3, np.float32))


def test_augment_names_the_parts_of_the_training_pipeline():
    assert augment_parts("segmentation", True) == ("scale", "rotate", "flip", "color")
    assert augment_parts("classification", False) == augment_parts("pose", "none") == ()
    # the default, light: the crop alone for classification, no geometry for dense targets
    assert augment_parts("classification", "light") == ("crop",)
    assert augment_parts("segmentation", "light") == augment_parts("pose", "light") == ("color",)
    assert augment_parts("pose", "strong") == augment_parts("pose", True)
    default = [type(t).__name__ for t in build_transforms("segmentation", 16, True).compose]
    assert default == ["Resize", "ColorJitter", "Normalize", "ToTensorV2"]
    assert SegmentationData().augment == "light"
    assert augment_parts("pose", "color, flip") == ("flip", "color")  # in the pipeline's order
    kinds = [type(t).__name__ for t in build_transforms("segmentation", 16, True, augment="rotate,color").compose]
    assert kinds == ["Resize", "Affine", "ColorJitter", "Normalize", "ToTensorV2"]
    affine = build_transforms("segmentation", 16, True, augment="rotate").compose.transforms[1]
    assert affine.rotate == (-30, 30) and affine.scale == {"x": (1.0, 1.0), "y": (1.0, 1.0)}
    with pytest.raises(ValueError, match="'crop'.*scale, rotate, flip, color"):
        augment_parts("segmentation", "crop")
    with pytest.raises(ValueError, match="augment='strongest'"):
        SegmentationData(augment="strongest")
