"""Property-based tests (hypothesis) that the synthetic sets of tasks.data.synthetic are a pure
function of (seed, index): the same item whatever the set's length, the order of reads, and the
state of numpy's, Python's and torch's global generators; and that neighbouring seeds and indices give
different items."""

from __future__ import annotations

import random

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes


def same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


case = st.tuples(
    st.sampled_from([SyntheticShapes, SyntheticScenes, SyntheticFigures]),
    st.integers(0, 2**32 - 1),  # seed
    st.integers(0, 10**6),  # index
    st.integers(16, 40),  # image size
    st.integers(0, 2**31 - 1),  # a global RNG state to disturb
)


@given(case=case)
def test_an_item_depends_only_on_seed_and_index(case):
    cls, seed, index, size, noise = case
    first = cls(index + 1, image_size=size, seed=seed)[index]
    random.seed(noise)
    np.random.seed(noise)
    torch.manual_seed(noise)
    longer = cls(index + 5, image_size=size, seed=seed)
    longer[index + 3]  # another item read first
    assert same(longer[index], first)
    assert same(cls(index + 1, image_size=size, seed=seed)[index], first)


@given(case=case)
def test_neighbouring_seeds_and_indices_give_other_items(case):
    cls, seed, index, size, _ = case
    item = cls(index + 2, image_size=size, seed=seed)[index]
    assert not same(cls(index + 2, image_size=size, seed=seed)[index + 1], item)
    assert not same(cls(index + 1, image_size=size, seed=seed + 1)[index], item)
