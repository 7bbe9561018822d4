"""The dataset the loaders iterate: a source (synthetic or real) with its task transform applied.

Sources return numpy items; `TaskDataset` turns each into `(image, target)` tensors through a
`TaskTransform`. Given an `ItemKey` (what `sampling.EpochSampler` yields), it seeds the item's
augmentations from (seed, epoch, index) alone: albumentations 2.0.8 keeps one RNG per pipeline,
seeded once, so an RNG stream would depend on which worker read which items before. A damaged item
raises `BadItemError` naming its index and the cause, or, with ``skip_bad``, becomes a `BadItem`
that `collate_good` leaves out of its batch.
"""

from __future__ import annotations

import signal
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, default_collate

from tasks.data.common import BadItemError
from tasks.data.sampling import ItemKey
from tasks.data.transforms import TaskTransform


class BadItem(NamedTuple):
    """Stands in for an item that could not be read or transformed (``skip_bad``)."""

    index: int
    reason: str


class TaskDataset(Dataset):
    """`source[index]` passed through `transform`: yields `(image, target)`.

    image: float32 CxHxW tensor. target: an int label (classification), an int64 HxW mask
    (segmentation), or a dict `{"keypoints": float32 (K, 2), "visibility": float32 (K,)}` (pose).
    The key is an int index, or an `ItemKey`, whose (seed, epoch, index) alone then fixes the
    augmentations. An item whose reading or transform raises OSError or ValueError raises
    `BadItemError` naming the index, or with `skip_bad` returns a `BadItem`.
    """

    def __init__(self, source: Dataset, transform: TaskTransform, skip_bad: bool = False) -> None:
        self.source, self.transform, self.skip_bad = source, transform, skip_bad

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | ItemKey) -> tuple[torch.Tensor, Any] | BadItem:
        index = key
        if isinstance(key, ItemKey):
            index = key.index
            self.transform.seed_item(key)
        try:
            return self.transform(*self.source[index])
        except (OSError, ValueError) as error:
            reason = f"item {_describe(self.source, index)}: {error}"
            if self.skip_bad:
                return BadItem(index, reason)
            raise BadItemError(f"{reason} (fix or remove it, or skip bad items with --data.skip_bad true)") from error


def _reader(source: Dataset, index: int) -> tuple[Dataset, int]:
    """The reader under a random subset or `PredictItems`, and the item's index in it."""
    while isinstance(source, (Subset, PredictItems)):
        if isinstance(source, Subset):
            source, index = source.dataset, source.indices[index]
        else:
            source = source.source
    return source, index


def _describe(source: Dataset, index: int) -> str:
    """ "<index> of <reader>", with the index in the reader rather than in a random subset of it."""
    reader, index = _reader(source, index)
    return f"{index} of {type(reader).__name__}"


def item_info(source: Dataset, index: int, image: np.ndarray) -> dict[str, Any]:
    """What `zoo predict` writes beside an item's prediction, for the item ``index`` of ``source`` (a
    reader, possibly in a random subset) whose image is ``image``:

    - ``index``: the position in ``source``; ``name``: the file relative to the reader's folder (or the
      index in the reader, six digits, for the synthetic sets and CIFAR);
    - ``box``: float64 (4,) (left, top, width, height), the region of the image the model's input
      shows (the whole image, unless the reader crops); ``size``: int64 (2,) the image's (H, W);
    - ``image_id`` and ``category_id``: the annotation's ids for COCO, else the index in the reader and 1.
    """
    reader, position = _reader(source, index)
    info = reader.info(position) if hasattr(reader, "info") else {}
    height, width = info.get("size", image.shape[:2])
    box = info.get("box", (0.0, 0.0, float(width), float(height)))
    return {
        "index": index,
        "name": info.get("name", f"{position:06d}"),
        "box": torch.as_tensor(np.asarray(box, np.float64)),
        "size": torch.tensor([height, width]),
        "image_id": int(info.get("image_id", position)),
        "category_id": int(info.get("category_id", 1)),
    }


class PredictItems(Dataset):
    """``(image, item_info)`` for every item of a source, for `zoo predict`: targets are dropped."""

    def __init__(self, source: Dataset) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        image = self.source[index][0]
        return image, item_info(self.source, index, image)


def collate_good(items: list[tuple[torch.Tensor, Any] | BadItem]) -> tuple[Any, list[BadItem]]:
    """Collate the good items of a batch: ``(batch, bad items)``; batch is None when every item was bad."""
    good = [item for item in items if not isinstance(item, BadItem)]
    return (default_collate(good) if good else None), [item for item in items if isinstance(item, BadItem)]


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore Ctrl-C.

    A Ctrl-C in a terminal reaches the whole process group. The main process then finishes its step
    and saves a checkpoint (`tasks.callbacks.ZooCheckpoint`), and needs its workers for that; a
    worker killed by the SIGINT would instead fail the run with "DataLoader worker exited unexpectedly".
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
