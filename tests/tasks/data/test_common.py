"""Tests of the shared data helpers: image reading errors, flip pairs, the inside-image rule, square
crops and the maps between an image's pixels and a model input's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.data.common import (
    crop_box,
    flip_pairs_from_names,
    flip_permutation,
    image_to_input,
    input_to_image,
    inside_image,
    read_rgb,
    square_box,
)


def test_read_rgb_names_the_file_it_cannot_read(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really an image")
    with pytest.raises(OSError, match="broken.png"):
        read_rgb(path)
    with pytest.raises(OSError, match="missing.jpg"):
        read_rgb(tmp_path / "missing.jpg")


def test_flip_pairs_pair_left_with_right_by_name():
    names = ["nose", "left_eye", "right_eye", "right_ear", "left_ear"]
    assert flip_pairs_from_names(names) == [(1, 2), (4, 3)]
    with pytest.raises(ValueError, match="left_knee"):
        flip_pairs_from_names(["left_knee", "right_ankle"])


def test_flip_permutation_swaps_pairs_and_checks_range():
    assert flip_permutation(4, [(1, 3)]).tolist() == [0, 3, 2, 1]
    with pytest.raises(ValueError, match="out of range"):
        flip_permutation(3, [(1, 3)])


def test_inside_image_covers_whole_pixels():
    points = np.array([[-0.5, 0], [-0.6, 0], [9.49, 4.49], [9.5, 0], [0, 4.5]], np.float32)
    assert inside_image(points, width=10, height=5).tolist() == [True, False, True, False, False]


def test_square_box_pads_the_short_side_evenly() -> None:
    assert square_box(0, 0, 40, 20) == (0.0, -10.0, 40.0, 40.0)
    assert square_box(50, 30, 30, 20, scale=1.25) == (46.25, 21.25, 37.5, 37.5)


def test_a_crop_shows_a_dot_where_image_to_input_puts_it() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[4:7, 29:32] = 255  # a 3x3 dot centred on (30, 5)
    box = np.asarray(square_box(0, 0, 40, 20))  # the whole image padded to a square, as for pose
    crop = crop_box(image, box, 32)
    ys, xs = np.nonzero(crop.mean(axis=2) > 60)
    expected = image_to_input(np.array([[30.0, 5.0]]), box, (32, 32))[0]
    assert np.allclose([xs.mean(), ys.mean()], expected, atol=0.3)
    assert crop[:7].max() == 0 and crop[-7:].max() == 0  # the padding is black


def test_input_to_image_inverts_image_to_input_for_numpy_and_torch() -> None:
    points = np.array([[[0.0, 0.0], [12.3, 45.6]], [[5.0, 5.0], [-2.0, 70.0]]])
    boxes = np.array([[10.0, -4.0, 50.0, 50.0], [0.0, 0.0, 30.0, 20.0]])
    there = image_to_input(points, boxes, (32, 48))
    assert np.allclose(input_to_image(there, boxes, (32, 48)), points)
    tensor = input_to_image(torch.from_numpy(there), torch.from_numpy(boxes), (32, 48))
    assert torch.allclose(tensor, torch.from_numpy(points))
    # pixel centres line up: the centre of input pixel 0 is image x = left + 0.5 * 50/48 - 0.5
    assert there[0, 0, 0] == pytest.approx((0.0 + 0.5 - 10.0) * 48 / 50 - 0.5)
