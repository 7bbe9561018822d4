"""Property-based tests (hypothesis) of the stacked hourglass's size constraint (Newell et al. 2016,
sec. 3.2): a stride-4 stem, then ``depth`` halvings, so a side works exactly when it is a multiple of
4 * 2**depth; any other side is refused before any computation with a size that works."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import zoo

DEPTHS = (1, 2)
NETS = {d: zoo.create_model("hourglass2", channels=8, depth=d, num_joints=3).eval() for d in DEPTHS}


@st.composite
def case(draw: st.DrawFn) -> tuple[int, int, int]:
    """A depth and two sides, each a multiple of the divisor as often as any side."""
    depth = draw(st.sampled_from(DEPTHS))
    divisor = 4 * 2**depth
    side = st.one_of(st.integers(1, 4).map(lambda k: k * divisor), st.integers(1, 4 * divisor))
    return draw(side), draw(side), depth


@given(case=case())
def test_sides_work_exactly_when_divisible_and_the_error_offers_a_size_that_works(case):
    height, width, depth = case
    divisor = 4 * 2**depth
    net = NETS[depth]
    x = torch.zeros(1, 3, height, width)
    if height % divisor or width % divisor:
        with pytest.raises(ValueError, match=f"divisible by {divisor}; got {height}x{width}") as error:
            net(x)
        fix = tuple(map(int, re.search(r"to e\.g\. (\d+)x(\d+)", str(error.value)).groups()))
        assert all(side % divisor == 0 and side > 0 for side in fix)
        with torch.no_grad():
            assert net(torch.zeros(1, 3, *fix))[-1].shape == (1, 3, fix[0] // 4, fix[1] // 4)
    else:
        with torch.no_grad():
            outputs = net(x)
        assert [tuple(o.shape) for o in outputs] == [(1, 3, height // 4, width // 4)] * 2
