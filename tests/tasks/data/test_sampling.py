"""Tests of tasks.data.sampling: an order that is a function of (seed, epoch), a loader position that
survives a save and load, and batches that do not depend on the number of workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.data import ClassificationData
from tasks.data.sampling import EpochSampler, ItemKey


def test_the_order_is_a_function_of_seed_and_epoch():
    sampler = EpochSampler(10, seed=3)
    first = list(sampler)
    assert sorted(key.index for key in first) == list(range(10))
    assert all(key.seed == 3 and key.epoch == 0 for key in first)
    second = list(sampler)  # a full pass moves on to the next epoch by itself
    assert [key.epoch for key in second] == [1] * 10 and second != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(EpochSampler(10, seed=4)) != first
    assert [key.index for key in EpochSampler(5, seed=3, shuffle=False)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="seed >= 0"):
        EpochSampler(10, seed=-1)


def test_start_skips_items_once_and_a_new_epoch_starts_over():
    sampler = EpochSampler(10, seed=0)
    order = sampler.order(0).tolist()
    sampler.start = 4
    sampler.set_epoch(0)  # the same epoch keeps the position
    assert [key.index for key in sampler] == order[4:]
    sampler.start = 4
    sampler.set_epoch(5)
    assert [key.index for key in sampler] == sampler.order(5).tolist()


def test_ranks_share_one_permutation_in_equal_parts_as_a_distributed_sampler():
    whole = EpochSampler(10, seed=7).order(0).tolist()
    shares = [EpochSampler(10, seed=7, num_replicas=3, rank=r) for r in range(3)]
    assert all(isinstance(s, torch.utils.data.DistributedSampler) for s in shares)  # Lightning keeps it
    drawn = [[key.index for key in s.__iter__()] for s in shares]
    assert [len(d) for d in drawn] == [len(s) for s in shares] == [4, 4, 4]
    padded = whole + whole[:2]  # padded with the order's first items, as torch's DistributedSampler
    assert drawn == [padded[r::3] for r in range(3)]
    shares[1].set_epoch(0)
    shares[1].start = 2  # a resumed rank skips its own items already trained
    assert [key.index for key in shares[1]] == padded[1::3][2:]
    with pytest.raises(ValueError, match="rank 2 of 2"):
        EpochSampler(10, seed=0, num_replicas=2, rank=2)


def test_a_position_saved_on_other_ranks_restarts_the_epoch_with_a_warning():
    data = ClassificationData(image_size=16, batch_size=4, train_size=16, val_size=4)
    loader = data.train_dataloader()
    with pytest.warns(UserWarning, match=r"on 1 process\(es\) from a checkpoint of 2: epoch 3 restarts"):
        loader.load_state_dict({"seed": 5, "epoch": 3, "batches": 2, "replicas": 2})
    assert loader.sampler.start == 0 and loader.sampler.epoch == 3


def _batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(images.clone(), labels.clone()) for images, labels in loader]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True)
    )


def test_a_loader_resumed_from_its_state_yields_the_rest_of_the_epoch():
    data = ClassificationData(image_size=16, batch_size=4, train_size=24, val_size=4)
    torch.manual_seed(0)
    loader = data.train_dataloader()
    loader.sampler.set_epoch(1)
    full = _batches(loader)
    assert len(full) == 6

    loader.sampler.set_epoch(1)
    iterator = iter(loader)
    seen = [next(iterator) for _ in range(2)]
    state = loader.state_dict()
    assert state == {"seed": loader.sampler.seed, "epoch": 1, "batches": 2, "replicas": 1}
    assert _same(seen, full[:2])

    torch.manual_seed(123)  # another process: another seed, until the state is loaded
    resumed = ClassificationData(image_size=16, batch_size=4, train_size=24, val_size=4).train_dataloader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(1)  # what Lightning calls at the start of the resumed epoch
    assert _same(_batches(resumed), full[2:])
    assert resumed.state_dict() == {"seed": state["seed"], "epoch": 1, "batches": 6, "replicas": 1}


def test_the_data_module_hands_the_position_to_loaders_built_after_a_restore():
    data = ClassificationData(image_size=16, batch_size=4, train_size=16, val_size=4)
    assert data.state_dict() == {}
    loader = data.train_dataloader()
    next(iter(loader))
    state = data.state_dict()
    assert state == {"train_loader": loader.state_dict()} and state["train_loader"]["batches"] == 1

    other = ClassificationData(image_size=16, batch_size=4, train_size=16, val_size=4)
    other.load_state_dict(state)
    assert other.train_dataloader().state_dict() == state["train_loader"]


def test_batches_do_not_depend_on_the_number_of_workers():
    """Augmented batches are the same with 0 and 2 workers: no RNG stream lives in a worker."""
    batches = []
    for workers in (0, 2):
        torch.manual_seed(0)
        data = ClassificationData(image_size=16, batch_size=4, train_size=12, val_size=4, num_workers=workers)
        loader = data.train_dataloader()
        batches.append(_batches(loader) + _batches(loader))  # two epochs
    assert _same(*batches)
    first, second = batches[0][:3], batches[0][3:]
    assert not np.array_equal(first[0][0].numpy(), second[0][0].numpy())  # epochs differ


def test_an_item_key_fixes_the_augmentation():
    data = ClassificationData(image_size=16, batch_size=4, train_size=4, val_size=4)
    dataset = data.dataset(train=True)
    a, b = dataset[ItemKey(1, 0, 2)], dataset[ItemKey(1, 0, 2)]
    assert torch.equal(a[0], b[0])
    assert not torch.equal(a[0], dataset[ItemKey(1, 1, 2)][0])  # another epoch, another augmentation
    assert not torch.equal(a[0], dataset[ItemKey(2, 0, 2)][0])  # another seed
