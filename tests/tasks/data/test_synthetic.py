"""Tests of the procedural datasets: determinism, item formats, class coverage, occlusion."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.common import inside_image
from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes

ALL = [SyntheticShapes, SyntheticScenes, SyntheticFigures]


def same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("cls", ALL)
def test_items_depend_only_on_seed_and_index(cls):
    first, again = cls(5, seed=3), cls(50, seed=3)
    assert same(first[4], again[4])
    assert same(first[4], first[4])
    assert not same(first[4], cls(5, seed=4)[4])
    assert not same(first[3], first[4])


@pytest.mark.parametrize("cls", ALL)
def test_items_have_the_documented_shapes_and_dtypes(cls):
    dataset = cls(3, image_size=40)
    assert len(dataset) == 3
    image, *target = dataset[2]
    assert image.shape == (40, 40, 3) and image.dtype == np.uint8
    if cls is SyntheticShapes:
        assert isinstance(target[0], int) and 0 <= target[0] < dataset.num_classes
    elif cls is SyntheticScenes:
        assert target[0].shape == (40, 40) and target[0].dtype == np.uint8
    else:
        keypoints, visibility = target
        assert keypoints.shape == (dataset.num_joints, 2) and keypoints.dtype == np.float32
        assert visibility.shape == (dataset.num_joints,) and visibility.dtype == np.float32
    with pytest.raises(IndexError):
        dataset[3]


@pytest.mark.parametrize("cls", ALL)
def test_bad_arguments_are_refused(cls):
    with pytest.raises(ValueError, match="image_size"):
        cls(1, image_size=4)
    with pytest.raises(ValueError, match="length"):
        cls(-1)


def test_shapes_cover_every_class_with_varied_colours():
    dataset = SyntheticShapes(300)
    assert dataset.num_classes >= 10 and len(set(dataset.class_names)) == dataset.num_classes
    items = [dataset[i] for i in range(300)]
    assert {label for _, label in items} == set(range(dataset.num_classes))
    # colour is no cue: per class, the mean image brightness spans a wide range
    for label in range(dataset.num_classes):
        means = [image.mean() for image, y in items if y == label]
        assert max(means) - min(means) > 60


def test_scene_masks_use_every_class_and_match_the_image():
    dataset = SyntheticScenes(40)
    seen = set()
    for i in range(40):
        image, mask = dataset[i]
        seen |= set(np.unique(mask).tolist())
        # shapes are light on dark backgrounds or dark on light ones: the mask must follow them
        assert abs(image[mask > 0].mean() - image[mask == 0].mean()) > 40
    assert seen == set(range(dataset.num_classes))
    assert dataset.num_classes - 1 >= 4 and dataset.class_names[0] == "background"


def test_figures_have_valid_metadata():
    dataset = SyntheticFigures(1)
    assert dataset.num_joints == len(dataset.joint_names) >= 13
    for left, right in dataset.flip_pairs:
        assert dataset.joint_names[left].replace("left_", "right_") == dataset.joint_names[right]
    paired = {i for pair in dataset.flip_pairs for i in pair}
    assert all(
        not name.startswith(("left_", "right_")) for i, name in enumerate(dataset.joint_names) if i not in paired
    )
    assert all(0 <= a < dataset.num_joints and 0 <= b < dataset.num_joints for a, b in dataset.skeleton)


def test_figures_hide_occluded_and_outside_joints():
    dataset = SyntheticFigures(80, image_size=48)
    occluded = outside = 0
    for i in range(len(dataset)):
        _, keypoints, visibility = dataset[i]
        inside = inside_image(keypoints, 48, 48)
        assert not visibility[~inside].any()  # off the image -> invisible, coordinates kept
        outside += int((~inside).sum())
        occluded += int((inside & (visibility == 0)).sum())
    assert occluded > 0 and outside > 0
