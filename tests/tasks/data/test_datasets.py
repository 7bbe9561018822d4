"""Tests of TaskDataset and of the per-worker augmentation seeding."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from tasks.data.datasets import TaskDataset, seed_worker
from tasks.data.synthetic import SyntheticFigures
from tasks.data.transforms import build_transforms


def test_task_dataset_applies_the_transform_to_each_item():
    source = SyntheticFigures(3, image_size=32)
    dataset = TaskDataset(source, build_transforms("pose", 32, train=False))
    image, target = dataset[1]
    assert len(dataset) == 3 and image.shape == (3, 32, 32)
    assert np.allclose(target["keypoints"].numpy(), source[1][1])  # eval at the source size: unchanged


def test_workers_draw_different_augmentations():
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    dataset = TaskDataset([(image, 0)] * 4, build_transforms("classification", 16, train=True))
    loader = DataLoader(dataset, batch_size=1, num_workers=2, worker_init_fn=seed_worker)
    first, second, *_ = (batch[0] for batch in loader)  # items 0 and 1 come from workers 0 and 1
    assert not torch.equal(first, second)
