"""Tests for tasks.heatmaps: the codec round trip, target weights, flip test and the stacked loss."""

import pytest
import torch
import torch.nn.functional as F

from tasks.heatmaps import decode_heatmaps, encode_heatmaps, flip_heatmaps, flip_test, heatmap_loss


def _random_case(generator: torch.Generator, batch: int = 8, joints: int = 16):
    in_h, in_w = (int(v) for v in torch.randint(32, 257, (2,), generator=generator))
    out_h, out_w = (int(v) for v in torch.randint(8, 65, (2,), generator=generator))
    # anywhere inside the output map: output pixel centres span [-0.5, w - 0.5)
    out_xy = torch.rand(batch, joints, 2, generator=generator) * torch.tensor([out_w, out_h]) - 0.5
    scale = torch.tensor([out_w / in_w, out_h / in_h])
    keypoints = (out_xy + 0.5) / scale - 0.5
    return keypoints, (in_h, in_w), (out_h, out_w), scale


def test_encode_decode_round_trip_within_half_output_pixel():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        keypoints, input_size, output_size, scale = _random_case(generator)
        visibility = torch.ones(keypoints.shape[:-1])
        heatmaps, weight = encode_heatmaps(keypoints, visibility, input_size, output_size, sigma=2.0)
        decoded, maxvals = decode_heatmaps(heatmaps, input_size)

        assert heatmaps.shape == (*keypoints.shape[:-1], *output_size)
        assert torch.all(weight == 1) and torch.all(maxvals > 0.5)
        error = (decoded - keypoints) * scale  # in output pixels
        assert error.abs().max() <= 0.5 + 1e-4
        # away from the border the quarter-pixel shift leaves at most a quarter pixel per axis
        centre = (keypoints + 0.5) * scale - 0.5
        limit = torch.tensor([output_size[1], output_size[0]]) - 1.5
        interior = ((centre >= 0.5) & (centre < limit)).all(-1)
        assert error[interior].abs().max() <= 0.25 + 1e-4
        assert error[interior].norm(dim=-1).max() < 0.5


def test_peak_at_pixel_centre_and_quarter_pixel_shift():
    # input pixel centres 4j + 1.5 fall on output pixel centres j at stride 4
    keypoints = torch.tensor([[4 * 5 + 1.5, 4 * 7 + 1.5]])
    heatmaps, _ = encode_heatmaps(keypoints, torch.ones(1), (64, 64), (16, 16), sigma=1.5)
    assert heatmaps[0, 7, 5] == 1.0 and heatmaps.argmax() == 7 * 16 + 5
    decoded, maxvals = decode_heatmaps(heatmaps[None], (64, 64))
    torch.testing.assert_close(decoded[0], keypoints)
    assert maxvals.item() == 1.0

    heatmap = torch.zeros(1, 1, 5, 5)
    heatmap[0, 0, 2, 2], heatmap[0, 0, 2, 3], heatmap[0, 0, 1, 2] = 1.0, 0.5, 0.2
    decoded, _ = decode_heatmaps(heatmap, (5, 5))
    torch.testing.assert_close(decoded, torch.tensor([[[2.25, 1.75]]]))


def test_invisible_and_outside_joints_get_zero_weight_and_empty_map():
    keypoints = torch.tensor([[[10.0, 10.0], [20.0, 20.0], [-8.0, 10.0], [10.0, 70.0]]])
    visibility = torch.tensor([[2, 0, 1, 1]])
    heatmaps, weight = encode_heatmaps(keypoints, visibility, (64, 64), (16, 16))
    assert weight.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert heatmaps[0, 0].max() > 0.9
    assert torch.all(heatmaps[0, 1:] == 0)

    single, single_weight = encode_heatmaps(keypoints[0], visibility[0], (64, 64), (16, 16))
    torch.testing.assert_close(single, heatmaps[0])
    torch.testing.assert_close(single_weight, weight[0])


def test_encode_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="visibility"):
        encode_heatmaps(torch.zeros(2, 5, 2), torch.ones(2, 4), (64, 64), (16, 16))


def test_flip_heatmaps_swaps_channels_and_matches_flipped_keypoints():
    torch.manual_seed(0)
    pairs = [(1, 2), (3, 4)]
    input_size, output_size = (96, 64), (24, 16)
    keypoints = torch.rand(2, 5, 2) * torch.tensor([63.0, 95.0])
    visibility = torch.ones(2, 5)
    heatmaps, _ = encode_heatmaps(keypoints, visibility, input_size, output_size)

    # a flipped image has its joints at x -> W - 1 - x, left and right swapped
    mirrored = keypoints.clone()
    mirrored[..., 0] = input_size[1] - 1 - mirrored[..., 0]
    mirrored = mirrored[:, [0, 2, 1, 4, 3]]
    expected, _ = encode_heatmaps(mirrored, visibility, input_size, output_size)
    torch.testing.assert_close(flip_heatmaps(heatmaps, pairs), expected)
    torch.testing.assert_close(flip_heatmaps(flip_heatmaps(heatmaps, pairs), pairs), heatmaps)
    torch.testing.assert_close(flip_heatmaps(heatmaps, pairs)[:, 1], heatmaps[:, 2].flip(-1))


def _equivariant_model():
    """A conv net with kernels (k_sym, k, mirror of k): flipping the input flips and swaps channels 1, 2."""
    kernel = torch.randn(1, 3, 5, 5)
    weight = torch.cat([kernel + kernel.flip(-1), kernel, kernel.flip(-1)])

    def model_fn(images):
        heatmaps = F.conv2d(F.avg_pool2d(images, 4), weight, padding=2)
        return [torch.randn_like(heatmaps), heatmaps]  # two hourglass stacks, the last one counts

    return model_fn


def test_flip_test_is_identity_for_a_flip_equivariant_model():
    torch.manual_seed(0)
    model_fn = _equivariant_model()
    images = torch.randn(2, 3, 32, 48)
    pairs = [(1, 2)]
    torch.testing.assert_close(flip_heatmaps(model_fn(images.flip(-1))[-1], pairs), model_fn(images)[-1])
    torch.testing.assert_close(flip_test(model_fn, images, pairs), model_fn(images)[-1])


def test_flip_test_averages_the_two_views():
    images = torch.randn(1, 3, 8, 8)

    def model_fn(x):  # not equivariant; its channels 0 and 1 are a left/right pair
        return x[:, :2]

    expected = 0.5 * (images[:, :2] + images[:, [1, 0]])
    torch.testing.assert_close(flip_test(model_fn, images, [(0, 1)]), expected)


def test_heatmap_loss_sums_stacks_and_ignores_zero_weight_joints():
    torch.manual_seed(0)
    target = torch.rand(2, 4, 8, 8)
    weight = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]])
    stacks = [torch.rand(2, 4, 8, 8) for _ in range(3)]

    single = [heatmap_loss(p, target, weight) for p in stacks]
    torch.testing.assert_close(heatmap_loss(stacks, target, weight), sum(single))
    expected = (weight[..., None, None] * (stacks[0] - target) ** 2).mean()
    torch.testing.assert_close(single[0], expected)

    changed = stacks[0].clone()
    changed[0, 2] += 5.0  # a joint of weight 0
    torch.testing.assert_close(heatmap_loss(changed, target, weight), single[0])
    with pytest.raises(ValueError, match="target_weight"):
        heatmap_loss(stacks[0], target, weight[:, :3])
