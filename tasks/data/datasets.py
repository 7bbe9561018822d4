"""The dataset the loaders iterate: a source (synthetic or real) with its task transform applied.

Sources return numpy items; `TaskDataset` turns each into `(image, target)` tensors through a
`TaskTransform`. `seed_worker` gives every DataLoader worker its own augmentation RNG:
albumentations 2.0.8 seeds its RNG once, when the pipeline is built, so forked workers would
otherwise apply the same augmentations in lockstep, epoch after epoch.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, get_worker_info

from tasks.data.transforms import TaskTransform


class TaskDataset(Dataset):
    """`source[index]` passed through `transform`: yields `(image, target)`.

    image: float32 CxHxW tensor. target: an int label (classification), an int64 HxW mask
    (segmentation), or a dict `{"keypoints": float32 (K, 2), "visibility": float32 (K,)}` (pose).
    """

    def __init__(self, source: Dataset, transform: TaskTransform) -> None:
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, object]:
        return self.transform(*self.source[index])

    def set_random_seed(self, seed: int) -> None:
        """Reseed the augmentations (see `seed_worker`)."""
        self.transform.set_random_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: seed the worker's augmentations from its torch seed.

    The torch seed differs per worker and per epoch and follows `seed_everything`, so augmentations
    differ between workers and epochs yet repeat from run to run.
    """
    info = get_worker_info()
    if info is not None and isinstance(info.dataset, TaskDataset):
        info.dataset.set_random_seed(info.seed)
