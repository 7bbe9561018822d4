"""Property-based tests (hypothesis) of the heatmap codec (tasks.heatmaps): for any input and output
size, any keypoint whose nearest output pixel is in the map and any sigma, decoding the encoded
target gives the keypoint back within 0.5 output px (the argmax's quantisation; the quarter-pixel
shift of Newell et al. 2016, sec. 4, brings interior joints within 0.25 px); unlabelled and off-map
joints get an empty map and no weight; a flipped image's keypoint is the flipped heatmap's."""

from __future__ import annotations

import math

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.heatmaps import decode_heatmaps, encode_heatmaps, flip_heatmaps


@st.composite
def keypoint_case(draw: st.DrawFn) -> tuple[tuple[int, int], tuple[int, int], torch.Tensor, float]:
    """Input size (H, W), output size (h, w) <= it, one keypoint (x, y) anywhere in the input and sigma."""
    in_h, in_w = draw(st.integers(4, 256)), draw(st.integers(4, 256))
    out_h, out_w = draw(st.integers(2, in_h)), draw(st.integers(2, in_w))
    x = draw(st.floats(-0.5, in_w - 0.5, allow_nan=False, exclude_max=True))
    y = draw(st.floats(-0.5, in_h - 0.5, allow_nan=False, exclude_max=True))
    sigma = draw(st.floats(0.5, 4.0))
    return (in_h, in_w), (out_h, out_w), torch.tensor([[x, y]]), sigma


def _to_output(keypoints: torch.Tensor, input_size: tuple[int, int], output_size: tuple[int, int]) -> torch.Tensor:
    """Keypoints in output pixels, by the module's documented mapping x_out = (x_in + 0.5) * w / W - 0.5."""
    scale = torch.tensor([output_size[1] / input_size[1], output_size[0] / input_size[0]])
    return (keypoints + 0.5) * scale - 0.5


@settings(max_examples=200)  # tensors of at most 256 x 256: cheap
@given(case=keypoint_case())
def test_decode_of_encode_is_within_half_an_output_pixel(case):
    input_size, output_size, keypoint, sigma = case
    heatmaps, weight = encode_heatmaps(keypoint, torch.ones(1), input_size, output_size, sigma)
    centre = _to_output(keypoint, input_size, output_size)[0]
    out_h, out_w = output_size
    if not (-0.5 <= centre[0] < out_w - 0.5 and -0.5 <= centre[1] < out_h - 0.5):
        assert weight.item() == 0 and heatmaps.abs().sum() == 0  # its nearest output pixel is off the map
        return
    assert weight.item() == 1 and heatmaps.max() <= 1
    decoded, confidence = decode_heatmaps(heatmaps, input_size)
    error = (_to_output(decoded, input_size, output_size)[0] - centre).abs()
    assert (error <= 0.5 + 1e-4).all(), (decoded, keypoint, error)
    interior = (centre > 0.5) & (centre < torch.tensor([out_w, out_h]) - 1.5)
    assert (error[interior] <= 0.25 + 1e-4).all(), (decoded, keypoint, error)
    peak_distance_sq = 0.5  # the nearest pixel is within half a pixel of the centre in x and in y
    assert confidence.item() >= math.exp(-peak_distance_sq / (2 * sigma**2)) - 1e-5


@given(case=keypoint_case())
def test_unlabelled_joints_get_no_target(case):
    input_size, output_size, keypoint, sigma = case
    heatmaps, weight = encode_heatmaps(keypoint, torch.zeros(1), input_size, output_size, sigma)
    assert weight.item() == 0 and heatmaps.abs().sum() == 0


@given(case=keypoint_case())
def test_the_flipped_heatmap_encodes_the_flipped_keypoint(case):
    input_size, output_size, keypoint, sigma = case
    centre_x = _to_output(keypoint, input_size, output_size)[0, 0].item()
    # [-0.5, w - 0.5) is half-open, so a joint exactly on the map's outer edge and its mirror differ
    assume(min(abs(centre_x + 0.5), abs(centre_x - output_size[1] + 0.5)) > 1e-3)
    flipped = keypoint.clone()
    flipped[:, 0] = input_size[1] - 1 - keypoint[:, 0]  # albumentations' HorizontalFlip: x -> W - 1 - x
    heatmaps, _ = encode_heatmaps(keypoint, torch.ones(1), input_size, output_size, sigma)
    of_flipped, _ = encode_heatmaps(flipped, torch.ones(1), input_size, output_size, sigma)
    torch.testing.assert_close(flip_heatmaps(heatmaps, []), of_flipped, atol=1e-5, rtol=0)
