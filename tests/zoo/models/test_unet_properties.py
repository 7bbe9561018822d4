"""Property-based tests (hypothesis) of zoo.models.unet's size arithmetic: for any input side,
`valid_output_size` and `nearest_valid_sizes` agree with what a tiny U-Net actually does, valid
padding refuses the sides it cannot take with the nearest ones that work, and same padding keeps
any side it can pool (Ronneberger et al. 2015, fig. 1: 572 -> 388)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.models.unet import nearest_valid_sizes, valid_output_size

DEPTHS = (1, 2, 3)


def _tiny(name: str, depth: int) -> torch.nn.Module:
    return zoo.create_model(name, base_width=2, depth=depth, num_classes=2).eval()


VALID = {d: _tiny("unet", d) for d in DEPTHS}
SAME = {d: _tiny("unet_same", d) for d in DEPTHS}


def _simulate(side: int, depth: int) -> int | None:
    """The output side, followed through every layer of a valid U-Net: 3x3 convs lose 2 px each,
    a 2x2 pool needs an even side, a 2x2 up-conv doubles (an independent restatement of sec. 2)."""
    sides = []
    for _ in range(depth):
        side -= 4
        if side < 2 or side % 2:
            return None
        side //= 2
        sides.append(side)
    side -= 4
    for _ in range(depth):
        if side < 1:
            return None
        side = 2 * side - 4
    return side if side >= 1 else None


@settings(max_examples=300)  # arithmetic only: many examples cost little
@given(side=st.integers(1, 3000), depth=st.integers(0, 5))
def test_valid_output_size_follows_the_layers(side, depth):
    assert valid_output_size(side, depth) == _simulate(side, depth)


@settings(max_examples=100)
@given(side=st.integers(1, 3000), depth=st.integers(1, 5))
def test_nearest_valid_sizes_bracket_the_side_and_nothing_between_works(side, depth):
    below, above = nearest_valid_sizes(side, depth)
    assert above > side and valid_output_size(above, depth) is not None
    if below is not None:
        assert below <= side and valid_output_size(below, depth) is not None
    start = 1 if below is None else below + 1
    assert all(valid_output_size(s, depth) is None for s in range(start, above) if s != below)


@st.composite
def valid_case(draw: st.DrawFn) -> tuple[int, int, int]:
    """A depth and two sides, each a side that works as often as one drawn at random."""
    depth = draw(st.sampled_from(DEPTHS))
    working = [s for s in range(1, 101) if valid_output_size(s, depth) is not None]
    side = st.one_of(st.sampled_from(working), st.integers(1, 100))
    return draw(side), draw(side), depth


@given(case=valid_case())
def test_valid_unet_output_or_error_matches_the_arithmetic(case):
    height, width, depth = case
    x = torch.zeros(1, 1, height, width)
    expected = valid_output_size(height, depth), valid_output_size(width, depth)
    if None in expected:
        bad = height if expected[0] is None else width
        works = " and ".join(str(s) for s in nearest_valid_sizes(bad, depth) if s is not None)
        with pytest.raises(ValueError, match=f"cannot take a side of {bad} px.*nearest sizes that work are {works} "):
            VALID[depth](x)
    else:
        with torch.no_grad():
            assert VALID[depth](x).shape == (1, 2, *expected)


@given(height=st.integers(1, 40), width=st.integers(1, 40), depth=st.sampled_from(DEPTHS))
def test_same_unet_keeps_any_side_it_can_pool_and_names_the_minimum_otherwise(height, width, depth):
    x = torch.zeros(1, 3, height, width)
    smallest = 2**depth
    if min(height, width) < smallest:
        with pytest.raises(ValueError, match=f"at least {smallest} px"):
            SAME[depth](x)
    else:
        with torch.no_grad():
            assert SAME[depth](x).shape == (1, 2, height, width)
