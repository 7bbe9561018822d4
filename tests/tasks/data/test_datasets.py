"""Tests of TaskDataset (transform, per-key augmentation seeds, bad items) and of collate_good."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from tasks.data.common import BadItemError
from tasks.data.datasets import BadItem, PredictItems, TaskDataset, collate_good, item_info, worker_init
from tasks.data.formats import MaskFolderDataset
from tasks.data.sampling import ItemKey
from tasks.data.synthetic import SyntheticFigures
from tasks.data.transforms import build_transforms


def test_task_dataset_applies_the_transform_to_each_item():
    source = SyntheticFigures(3, image_size=32)
    dataset = TaskDataset(source, build_transforms("pose", 32, train=False))
    image, target = dataset[1]
    assert len(dataset) == 3 and image.shape == (3, 32, 32)
    assert np.allclose(target["keypoints"].numpy(), source[1][1])  # eval at the source size: unchanged


def test_an_item_key_seeds_the_augmentation_whatever_came_before():
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    dataset = TaskDataset([(image, 0)] * 4, build_transforms("classification", 16, train=True))
    first = dataset[ItemKey(0, 0, 1)][0]
    for index in (0, 2, 3):  # other items in between move an RNG stream, not a per-key seed
        dataset[index]
    assert torch.equal(dataset[ItemKey(0, 0, 1)][0], first)
    assert not torch.equal(dataset[ItemKey(0, 0, 2)][0], first)


class Broken:
    """A source whose item 1 is damaged."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int):
        if index == 1:
            raise OSError("cannot read image /data/b.png: image file is truncated")
        return np.zeros((8, 8, 3), np.uint8), index


def test_a_bad_item_raises_naming_its_index_and_the_fix():
    dataset = TaskDataset(Broken(), build_transforms("classification", 8, train=False))
    with pytest.raises(BadItemError, match=r"item 1 of Broken: cannot read image /data/b.png.*--data.skip_bad true"):
        dataset[ItemKey(0, 0, 1)]


def test_skip_bad_leaves_the_bad_item_out_of_its_batch():
    dataset = TaskDataset(Broken(), build_transforms("classification", 8, train=False), skip_bad=True)
    items = [dataset[i] for i in range(3)]
    assert isinstance(items[1], BadItem) and items[1].index == 1 and "b.png" in items[1].reason
    (images, labels), bad = collate_good(items)
    assert images.shape == (2, 3, 8, 8) and labels.tolist() == [0, 2]
    assert bad == [items[1]]
    assert collate_good([items[1]]) == (None, [items[1]])


def test_workers_ignore_ctrl_c():
    previous = signal.getsignal(signal.SIGINT)
    try:
        worker_init(0)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_predict_items_name_each_image_and_the_region_the_input_shows(maskfolder):
    reader = MaskFolderDataset(maskfolder / "val", num_classes=3)
    items = PredictItems(Subset(reader, [2, 0]))
    image, info = items[0]
    assert image.shape == (12, 10, 3) and info["name"] == "2.png" and info["index"] == 0
    assert info["box"].tolist() == [0.0, 0.0, 10.0, 12.0] and info["size"].tolist() == [12, 10]
    assert info["image_id"] == 2 and info["category_id"] == 1


def test_item_info_of_a_reader_without_files_is_its_index():
    figures = SyntheticFigures(3, image_size=16)
    info = item_info(figures, 2, figures[2][0])
    assert info["name"] == "000002" and info["image_id"] == 2 and info["box"].tolist() == [0, 0, 16, 16]
