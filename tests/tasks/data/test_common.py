"""Tests of the shared data helpers: image reading errors, flip pairs, the inside-image rule."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.common import flip_pairs_from_names, flip_permutation, inside_image, read_rgb


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
