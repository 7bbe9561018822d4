"""Heatmap codec for pose estimation: Gaussian targets, sub-pixel decoding, flip test and the loss.

The targets follow the stacked hourglass (Newell et al. 2016, "Stacked Hourglass Networks for Human
Pose Estimation", sec. 4: a 2-D Gaussian centred on the joint, on the 64x64 output; the paper uses
std 1 px, SimpleBaseline and we default to 2 px) and SimpleBaseline (Xiao et al. 2018, "Simple
Baselines for Human Pose Estimation and Tracking", sec. 2): MSE on the heatmaps with a per-joint
target weight so invisible joints do not contribute.

Coordinate convention. Keypoints are ``(x, y)`` in pixel-index coordinates: the centre of pixel
``(row i, col j)`` is at ``(x=j, y=i)``, so pixel ``j`` covers ``[j - 0.5, j + 0.5)``. This is the
convention of albumentations' ``HorizontalFlip`` (``x -> W - 1 - x``). Input and output pixels cover the
same image area, so a coordinate maps between resolutions as ``x_out = (x_in + 0.5) * w / W - 0.5``.
With this mapping, encode and decode are exact inverses up to the quantisation of the argmax, and a flip
of the image (``x -> W - 1 - x``) is exactly a flip of the heatmap (``x -> w - 1 - x``). SimpleBaseline
maps with ``x / stride`` instead, which is off by ``(stride - 1) / (2 stride)`` output px and is why it
needs its ``SHIFT_HEATMAP`` hack in the flip test; we need none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["decode_heatmaps", "encode_heatmaps", "flip_heatmaps", "flip_test", "heatmap_loss"]

HeatmapOutput = Tensor | Sequence[Tensor]


def _scale(input_size: tuple[int, int], output_size: tuple[int, int], device: torch.device) -> Tensor:
    """The ``(x, y)`` factor from input to output pixels, validated."""
    if len(input_size) != 2 or len(output_size) != 2 or min(*input_size, *output_size) <= 0:
        raise ValueError(
            f"input_size={tuple(input_size)} and output_size={tuple(output_size)} must both be positive (H, W) pairs."
        )
    (in_h, in_w), (out_h, out_w) = input_size, output_size
    return torch.tensor([out_w / in_w, out_h / in_h], device=device)


def encode_heatmaps(
    keypoints: Tensor,
    visibility: Tensor,
    input_size: tuple[int, int],
    output_size: tuple[int, int],
    sigma: float = 2.0,
) -> tuple[Tensor, Tensor]:
    """Render one Gaussian heatmap per joint as the regression target (Newell et al. 2016, sec. 4).

    Args:
        keypoints: ``(..., K, 2)`` joint positions ``(x, y)`` in input pixels, e.g. ``(B, K, 2)``.
        visibility: ``(..., K)``; a joint with visibility 0 (COCO "not labelled") gets no target.
        input_size: ``(H, W)`` of the network input.
        output_size: ``(h, w)`` of the heatmaps (``(H/4, W/4)`` for stride 4).
        sigma: standard deviation of the Gaussian in output pixels.

    Returns:
        ``heatmaps`` of shape ``(..., K, h, w)``, peak value 1 at the (sub-pixel) joint position, and
        ``target_weight`` of shape ``(..., K)``: 1 for visible joints whose nearest output pixel lies in the
        map, else 0 (their heatmap is all zero), so :func:`heatmap_loss` ignores them (Xiao et al. 2018).
    """
    if keypoints.shape[-1:] != (2,) or visibility.shape != keypoints.shape[:-1]:
        raise ValueError(
            f"Expected keypoints (..., K, 2) and visibility (..., K), got {tuple(keypoints.shape)} and "
            f"{tuple(visibility.shape)}."
        )
    if sigma <= 0:
        raise ValueError(f"sigma={sigma} must be positive.")
    scale = _scale(input_size, output_size, keypoints.device)
    out_h, out_w = output_size
    centre = (keypoints.float() + 0.5) * scale - 0.5  # (..., K, 2) in output pixels
    nearest = torch.floor(centre + 0.5)
    inside = (nearest >= 0).all(-1) & (nearest[..., 0] < out_w) & (nearest[..., 1] < out_h)
    target_weight = ((visibility > 0) & inside).float()

    xs = torch.arange(out_w, device=keypoints.device, dtype=torch.float32)
    ys = torch.arange(out_h, device=keypoints.device, dtype=torch.float32)
    gauss_x = torch.exp(-((xs - centre[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., K, w)
    gauss_y = torch.exp(-((ys - centre[..., 1:2]) ** 2) / (2 * sigma**2))  # (..., K, h)
    heatmaps = gauss_y.unsqueeze(-1) * gauss_x.unsqueeze(-2) * target_weight[..., None, None]
    return heatmaps, target_weight


def decode_heatmaps(heatmaps: Tensor, input_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Read joint positions off heatmaps (Newell et al. 2016, sec. 4; Xiao et al. 2018 ``get_final_preds``).

    The argmax is moved a quarter pixel toward the higher of its two neighbours, in x and y separately,
    which halves the quantisation error of a plain argmax. Pixels on the map's border have one neighbour
    and are not shifted.

    Args:
        heatmaps: ``(..., K, h, w)``, typically ``(B, K, h, w)``.
        input_size: ``(H, W)`` of the network input the keypoints are returned in.

    Returns:
        ``keypoints`` ``(..., K, 2)`` as ``(x, y)`` in input pixels, and ``maxvals`` ``(..., K)``: the peak
        heatmap value, the joint's confidence.
    """
    if heatmaps.ndim < 3:
        raise ValueError(f"Expected heatmaps (..., K, h, w), got shape {tuple(heatmaps.shape)}.")
    out_h, out_w = heatmaps.shape[-2:]
    scale = _scale(input_size, (out_h, out_w), heatmaps.device)
    flat = heatmaps.detach().reshape(-1, out_h, out_w).float()
    maxvals, index = flat.flatten(1).max(dim=1)
    y, x = index // out_w, index % out_w
    n = torch.arange(flat.shape[0], device=flat.device)

    dx = flat[n, y, (x + 1).clamp(max=out_w - 1)] - flat[n, y, (x - 1).clamp(min=0)]
    dy = flat[n, (y + 1).clamp(max=out_h - 1), x] - flat[n, (y - 1).clamp(min=0), x]
    shift_x = 0.25 * torch.sign(dx) * ((x > 0) & (x < out_w - 1))
    shift_y = 0.25 * torch.sign(dy) * ((y > 0) & (y < out_h - 1))
    coords = torch.stack([x + shift_x, y + shift_y], dim=-1)
    keypoints = (coords + 0.5) / scale - 0.5
    return keypoints.reshape(*heatmaps.shape[:-2], 2), maxvals.reshape(heatmaps.shape[:-2])


def flip_heatmaps(heatmaps: Tensor, flip_pairs: Sequence[tuple[int, int]]) -> Tensor:
    """Mirror heatmaps ``(..., K, h, w)`` left-right and swap the channels of left/right joint pairs.

    ``flip_pairs`` lists ``(left, right)`` joint indices, e.g. ``[(5, 6), (7, 8)]`` for COCO shoulders and
    elbows. This maps the heatmaps of a flipped image onto the joints of the original one.
    """
    num_joints = heatmaps.shape[-3]
    perm = list(range(num_joints))
    for left, right in flip_pairs:
        if not (0 <= left < num_joints and 0 <= right < num_joints):
            raise ValueError(f"flip pair {(left, right)} is out of range for {num_joints} joints.")
        perm[left], perm[right] = right, left
    return heatmaps.flip(-1)[..., perm, :, :]


def last_output(output: HeatmapOutput) -> Tensor:
    """The final prediction of a model that may return one tensor per hourglass stack (the last is best)."""
    return output if isinstance(output, Tensor) else output[-1]


def flip_test(
    model_fn: Callable[[Tensor], HeatmapOutput], images: Tensor, flip_pairs: Sequence[tuple[int, int]]
) -> Tensor:
    """Test-time flip augmentation (Newell et al. 2016, sec. 4; Xiao et al. 2018, sec. 4).

    Runs ``model_fn`` on ``images`` ``(B, C, H, W)`` and on their mirror image, maps the second result back
    with :func:`flip_heatmaps` and returns the mean ``(B, K, h, w)``. If ``model_fn`` returns a list of
    stacks, the last one is used.
    """
    heatmaps = last_output(model_fn(images))
    flipped = last_output(model_fn(images.flip(-1)))
    return 0.5 * (heatmaps + flip_heatmaps(flipped, flip_pairs))


def heatmap_loss(pred: HeatmapOutput, target: Tensor, target_weight: Tensor) -> Tensor:
    """MSE between predicted and target heatmaps, weighted per joint (Xiao et al. 2018, sec. 2).

    ``pred`` is ``(B, K, h, w)`` or a list of them, one per hourglass stack; then the losses are summed,
    which is the intermediate supervision of Newell et al. 2016, sec. 3.4. ``target_weight`` ``(B, K)``
    multiplies each joint's squared error, and the mean is taken over all ``B * K * h * w`` elements, as in
    SimpleBaseline's ``JointsMSELoss`` (without its factor 1/2), so joints of weight 0 add nothing.
    """
    if not isinstance(pred, Tensor):
        return torch.stack([heatmap_loss(p, target, target_weight) for p in pred]).sum()
    if pred.shape != target.shape or target_weight.shape != target.shape[:-2]:
        raise ValueError(
            f"Expected pred and target (B, K, h, w) of one shape and target_weight (B, K), got "
            f"{tuple(pred.shape)}, {tuple(target.shape)} and {tuple(target_weight.shape)}."
        )
    squared_error = F.mse_loss(pred, target, reduction="none")
    return (target_weight[..., None, None] * squared_error).mean()
