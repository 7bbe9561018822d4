"""A data order that survives a kill: every batch is a function of (seed, epoch, position), and the
position is saved in every checkpoint.

Resuming a fit bit for bit needs the next batch to be exactly the one the killed run would have
trained on, with the same augmentations, whatever the number of DataLoader workers:
- `EpochSampler` yields `ItemKey(seed, epoch, index)`: the order of epoch e is the permutation
  drawn from ``np.random.default_rng([seed, e])``, and `TaskDataset` seeds an item's augmentations
  from its whole key. No RNG stream lives in a worker, so 0, 2 or 8 workers give the same batches.
- `ResumableLoader` counts the batches it has handed out in the current epoch and implements
  ``state_dict``/``load_state_dict``. Lightning 2.x saves the state of every training loader that
  has both methods (``lightning_fabric.utilities.types._Stateful``) in the fit loop's part of each
  checkpoint (``loops.fit_loop.state_dict.combined_loader``) and loads it back before the first
  batch of a resumed fit, so the resumed epoch skips the batches already trained, without reading
  them.
- Under DDP each process reads its own share of the same permutation (`EpochSampler`'s ``rank`` and
  ``num_replicas``, as torch's DistributedSampler), and the ranks step in lockstep, so the one
  position rank 0 saves is every rank's: a DDP fit resumed mid-epoch trains the batches the killed
  one would have trained, on every rank.

The loader also drops the items that `TaskDataset` marked bad (``skip_bad``) from each batch and
keeps their indices in `skipped`, in the main process, whatever the workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler


class ItemKey(NamedTuple):
    """What `TaskDataset` needs to make one training item: the item's index, and the loader's seed and
    epoch that its augmentations are drawn from."""

    seed: int
    epoch: int
    index: int


class EpochSampler(DistributedSampler):
    """Yields the `ItemKey` of every item of `length` (of rank `rank` of `num_replicas`: every
    `num_replicas`-th item from `rank` on), in a shuffled order that depends only on (seed, epoch).

    As torch's DistributedSampler, a rank's share is padded with the order's first items to
    ceil(length / num_replicas), so that the ranks step together. It is a DistributedSampler so that
    Lightning keeps it under DDP instead of wrapping it in one, which would lose its resumable position
    (the base class's ``__init__``, which needs a dataset and a process group, is not called).
    ``set_epoch`` (which Lightning calls at each epoch start) picks the epoch; a complete pass moves on
    to the next epoch by itself, so a plain loop reshuffles too. ``start`` items of the rank's share are
    skipped once, by the next pass: `ResumableLoader` sets it on resume.
    """

    def __init__(self, length: int, seed: int, shuffle: bool = True, num_replicas: int = 1, rank: int = 0) -> None:
        if length < 0 or seed < 0:
            raise ValueError(f"need length >= 0 and seed >= 0, got {length} and {seed}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank {rank} of {num_replicas}")
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self.num_replicas, self.rank, self.drop_last = num_replicas, rank, False
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of `epoch`; a different epoch than the current one starts at its beginning."""
        if epoch != self.epoch:
            self.epoch, self.start = epoch, 0

    def order(self, epoch: int) -> np.ndarray:
        """The item indices of `epoch` that this rank draws, in the order it draws them."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.length) if self.shuffle else np.arange(self.length)
        return np.resize(order, len(self) * self.num_replicas)[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[ItemKey]:
        epoch, start, self.start = self.epoch, self.start, 0
        for index in self.order(epoch)[start:].tolist():
            yield ItemKey(self.seed, epoch, index)
        if self.epoch == epoch:
            self.epoch += 1

    def __len__(self) -> int:
        return -(-self.length // self.num_replicas)


class ResumableLoader(DataLoader):
    """A DataLoader whose position in the epoch can be saved and restored, when its sampler is an
    `EpochSampler`.

    Takes DataLoader's arguments; ``collate_fn`` must return ``(batch or None, bad items)`` like
    `datasets.collate_good`, whose bad items (``index``, ``reason``) are warned about once and kept
    in `skipped`. A batch whose items were all bad is not yielded, but still counts as a position.

    State: ``{"seed", "epoch", "batches", "replicas"}``, the batches of ``epoch`` already handed out
    (by each of ``replicas`` ranks). With another sampler (an evaluation loader's sequential one) the
    state is empty; a state saved with another number of ranks cannot be mapped to this one's shares,
    so the resumed epoch starts over, with a warning.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._epoch, self._batches = 0, 0
        self.skipped: dict[int, str] = {}
        """Index -> reason, for every item skipped as bad so far."""

    def __iter__(self) -> Iterator[Any]:
        sampler = self.sampler
        if isinstance(sampler, EpochSampler) and self.batch_size:
            self._epoch, self._batches = sampler.epoch, sampler.start // self.batch_size
        for batch, bad in super().__iter__():
            self._batches += 1
            for index, reason in bad:
                if index not in self.skipped:
                    warnings.warn(f"skipping a bad item: {reason}", stacklevel=2)
                    self.skipped[index] = reason
            if batch is not None:
                yield batch

    def state_dict(self) -> dict[str, int]:
        """The seed, the epoch and how many of its batches were handed out (empty without an EpochSampler)."""
        if not isinstance(self.sampler, EpochSampler):
            return {}
        return {
            "seed": self.sampler.seed,
            "epoch": self._epoch,
            "batches": self._batches,
            "replicas": self.sampler.num_replicas,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a `state_dict`: the next pass yields the batches of that epoch not yet handed out."""
        sampler = self.sampler
        if not state or not isinstance(sampler, EpochSampler) or not self.batch_size:
            return
        if state.get("replicas", 1) != sampler.num_replicas:
            warnings.warn(
                f"resuming on {sampler.num_replicas} process(es) from a checkpoint of {state.get('replicas', 1)}: "
                f"epoch {state['epoch']} restarts from its first batch (resume on as many processes to continue it)",
                stacklevel=2,
            )
            state = {**state, "batches": 0}
        sampler.seed, sampler.epoch, sampler.start = state["seed"], state["epoch"], state["batches"] * self.batch_size
        self._epoch, self._batches = state["epoch"], state["batches"]
