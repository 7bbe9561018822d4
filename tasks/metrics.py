"""Metrics and losses for the pose and segmentation tasks.

Pose: :class:`PCK` (torchmetrics has none) and :class:`MeanJointError`, both on keypoints decoded to input
pixels, and :class:`CocoKeypointAP`, COCO's own OKS AP computed by pycocotools on keypoints in the image's
pixels. Segmentation: :func:`segmentation_metrics` (torchmetrics classes with ``ignore_index``),
:func:`segmentation_loss` (cross-entropy, optional soft Dice and border weight map) and
:func:`unet_weight_map` (Ronneberger et al. 2015, eq. 2).

How torchmetrics 1.9 treats the segmentation corner cases, and the choices made here:

- ``ignore_index`` pixels are dropped before the confusion matrix is built, whatever the prediction is.
  It must lie outside ``[0, num_classes)``: a class index inside the range makes torchmetrics drop the
  class from the Jaccard macro mean but not from the F1 macro mean (torchmetrics issue #2441), so we
  refuse it.
- A class absent from both prediction and target over the whole epoch is left out of the macro means of
  ``MulticlassJaccardIndex`` and ``MulticlassF1Score`` (weight 0), so it does not count as IoU 0. With
  ``average="none"`` torchmetrics returns ``zero_division`` for it; we set that to NaN so the per-class IoU
  says "undefined" rather than "0".
- ``torchmetrics.classification.Dice`` is gone in 1.9, and ``torchmetrics.segmentation.DiceScore`` has no
  ``ignore_index``. ``MulticlassF1Score`` does honour it, and per class F1 = 2TP / (2TP + FP + FN) is
  exactly the Dice coefficient.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex
from torchmetrics.utilities import dim_zero_cat

__all__ = [
    "PCK",
    "CocoKeypointAP",
    "MeanJointError",
    "segmentation_loss",
    "segmentation_metrics",
    "unet_weight_map",
]

MaskT = TypeVar("MaskT", np.ndarray, Tensor)


def _joint_errors(pred_kpts: Tensor, gt_kpts: Tensor, visibility: Tensor) -> tuple[Tensor, Tensor]:
    """Euclidean error per joint ``(B, K)`` and the mask of visible joints, after checking shapes."""
    if pred_kpts.shape != gt_kpts.shape or pred_kpts.ndim != 3 or pred_kpts.shape[-1] != 2:
        raise ValueError(
            f"Expected pred_kpts and gt_kpts of shape (B, K, 2), got {tuple(pred_kpts.shape)} and "
            f"{tuple(gt_kpts.shape)}."
        )
    if visibility.shape != gt_kpts.shape[:2]:
        raise ValueError(f"Expected visibility of shape {tuple(gt_kpts.shape[:2])}, got {tuple(visibility.shape)}.")
    return torch.linalg.vector_norm(pred_kpts.float() - gt_kpts.float(), dim=-1), visibility > 0


class PCK(Metric):
    """Percentage of Correct Keypoints: the fraction of visible joints within ``threshold * norm`` px.

    ``normalize="bbox"`` gives PCK@0.2 with the norm the larger side of the person's box (Yang & Ramanan
    2013, "Articulated Human Detection with Flexible Mixtures of Parts", sec. 7); when ``norm_size`` is not
    passed, the box is the tight box of the visible ground-truth joints. ``normalize="head"`` gives PCKh
    (Andriluka et al. 2014, MPII, sec. 4): ``norm_size`` is the head segment length and is required; use
    ``threshold=0.5`` for PCKh@0.5. Samples whose norm is 0 (e.g. a single visible joint) are skipped.
    A correct joint has distance ``<= threshold * norm``. ``compute()`` is NaN before any joint was seen.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    correct: Tensor
    total: Tensor

    def __init__(self, threshold: float = 0.2, normalize: Literal["bbox", "head"] = "bbox", **kwargs) -> None:
        super().__init__(**kwargs)
        if normalize not in ("bbox", "head"):
            raise ValueError(f"normalize={normalize!r}: expected 'bbox' or 'head'.")
        if threshold <= 0:
            raise ValueError(f"threshold={threshold} must be positive.")
        self.threshold = threshold
        self.normalize = normalize
        self.add_state("correct", torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, pred_kpts: Tensor, gt_kpts: Tensor, visibility: Tensor, norm_size: Tensor | None = None) -> None:
        """Add a batch: keypoints ``(B, K, 2)`` in px, visibility ``(B, K)``, ``norm_size`` ``(B,)`` in px."""
        dist, visible = _joint_errors(pred_kpts, gt_kpts, visibility)
        if norm_size is None:
            if self.normalize == "head":
                raise ValueError("PCK(normalize='head') needs norm_size: the head segment length per sample.")
            # tight box of the visible joints; -inf (never counted) for a sample with none visible
            gt, mask = gt_kpts.float(), visible.unsqueeze(-1)
            extent = gt.where(mask, -torch.inf).amax(1) - gt.where(mask, torch.inf).amin(1)
            norm_size = extent.amax(-1)
        elif norm_size.shape != dist.shape[:1]:
            raise ValueError(f"Expected norm_size of shape ({dist.shape[0]},), got {tuple(norm_size.shape)}.")
        counted = visible & (norm_size > 0).unsqueeze(1)
        within = dist <= self.threshold * norm_size.float().unsqueeze(1)
        self.correct += (within & counted).sum()
        self.total += counted.sum()

    def compute(self) -> Tensor:
        """Fraction of counted joints that are correct."""
        return self.correct.float() / self.total


class MeanJointError(Metric):
    """Mean Euclidean distance in px between predicted and ground-truth visible joints."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    error_sum: Tensor
    total: Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("error_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, pred_kpts: Tensor, gt_kpts: Tensor, visibility: Tensor) -> None:
        """Add a batch: keypoints ``(B, K, 2)`` in px and visibility ``(B, K)``."""
        dist, visible = _joint_errors(pred_kpts, gt_kpts, visibility)
        self.error_sum += dist[visible].sum(dtype=torch.float64)
        self.total += visible.sum()

    def compute(self) -> Tensor:
        """Mean error in px (NaN before any visible joint was seen)."""
        return (self.error_sum / self.total).float()


COCO_JOINTS = 17
"""COCO's person keypoints: pycocotools knows their OKS constants, other joint sets need their own."""


class CocoKeypointAP(Metric):
    """COCO's keypoint AP, AP50 and AP75 (OKS, object keypoint similarity; cocodataset.org/#keypoints-eval),
    computed by pycocotools' ``COCOeval`` on the ground truth given at construction.

    OKS = mean over labelled joints of exp(-d^2 / (2 s^2 k^2)), d the distance in image pixels, s^2 the
    person's area and k = 2 sigma the joint's constant; AP averages the precision over OKS thresholds
    .50:.05:.95, AP50 and AP75 take one threshold. Here each prediction is made on a ground-truth
    person's box, so these are AP *on ground-truth boxes*: papers and MMPose report AP on a person
    detector's boxes, which is lower.

    Args:
        ground_truth: a COCO keypoints dict (images, annotations, categories) of the evaluated images
            (`tasks.data.formats.CocoKeypoints.ground_truth`).
        sigmas: one OKS sigma per joint; None for COCO's 17 person keypoints (pycocotools' values).

    ``update(keypoints (B, K, 2) in image pixels, scores (B,), image_ids (B,))``; ``compute()`` returns
    ``{"ap", "ap50", "ap75"}``, 0 before any prediction and NaN when no evaluated person has keypoints.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, ground_truth: dict, sigmas: Sequence[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        (category,) = ground_truth["categories"]
        self.num_joints = len(category["keypoints"])
        if sigmas is None and self.num_joints != COCO_JOINTS:
            raise ValueError(
                f"COCO's keypoint AP needs one OKS sigma per joint: pycocotools has them for COCO's "
                f"{COCO_JOINTS} person keypoints, this category has {self.num_joints}; give oks_sigmas."
            )
        if sigmas is not None and len(sigmas) != self.num_joints:
            raise ValueError(f"oks_sigmas has {len(sigmas)} values for {self.num_joints} joints; give one per joint.")
        self.ground_truth, self.category_id = ground_truth, category["id"]
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.add_state("keypoints", [], dist_reduce_fx="cat")
        self.add_state("scores", [], dist_reduce_fx="cat")
        self.add_state("image_ids", [], dist_reduce_fx="cat")

    def update(self, keypoints: Tensor, scores: Tensor, image_ids: Tensor) -> None:
        """Add a batch of predicted people: keypoints ``(B, K, 2)`` in image pixels, scores and image ids ``(B,)``."""
        if keypoints.ndim != 3 or keypoints.shape[1:] != (self.num_joints, 2):
            raise ValueError(f"Expected keypoints (B, {self.num_joints}, 2), got {tuple(keypoints.shape)}.")
        self.keypoints.append(keypoints.double())
        self.scores.append(scores.double())
        self.image_ids.append(image_ids.long())

    def results(self) -> list[dict]:
        """The predictions so far in COCO's results format (what `zoo predict` writes as JSON)."""
        if not self.image_ids:
            return []
        keypoints, scores, ids = (dim_zero_cat(s).cpu() for s in (self.keypoints, self.scores, self.image_ids))
        return coco_results(
            keypoints, scores.unsqueeze(1).expand(-1, keypoints.shape[1]), scores, ids, self.category_id
        )

    def compute(self) -> dict[str, Tensor]:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        results = self.results()
        if not results:
            return dict.fromkeys(("ap", "ap50", "ap75"), torch.tensor(0.0))
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            truth = COCO()
            truth.dataset = self.ground_truth
            truth.createIndex()
            evaluation = COCOeval(truth, truth.loadRes(results), "keypoints")
            evaluation.params.imgIds = sorted(image["id"] for image in self.ground_truth["images"])
            if self.sigmas is not None:
                evaluation.params.kpt_oks_sigmas = self.sigmas
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        ap, ap50, ap75 = (float(v) if v >= 0 else float("nan") for v in evaluation.stats[:3])
        return {"ap": torch.tensor(ap), "ap50": torch.tensor(ap50), "ap75": torch.tensor(ap75)}


def coco_results(
    keypoints: Tensor, joint_scores: Tensor, scores: Tensor, image_ids: Tensor, category_id: int | Tensor
) -> list[dict]:
    """People in COCO's keypoint results format: ``image_id``, ``category_id``, ``keypoints`` as
    [x1, y1, s1, ...] in image pixels with each joint's score as its third value (pycocotools reads
    only x and y), and ``score``."""
    categories = torch.as_tensor(category_id).expand(len(image_ids))
    triples = torch.cat([keypoints.double(), joint_scores.double().unsqueeze(-1)], dim=-1).flatten(1)
    return [
        {"image_id": int(i), "category_id": int(c), "keypoints": [float(v) for v in k], "score": float(s)}
        for i, c, k, s in zip(image_ids.tolist(), categories.tolist(), triples, scores.tolist(), strict=True)
    ]


def _check_ignore_index(num_classes: int, ignore_index: int) -> None:
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index={ignore_index} is a class index for num_classes={num_classes}; it marks void "
            "pixels and must lie outside [0, num_classes), e.g. 255."
        )


def segmentation_metrics(num_classes: int, ignore_index: int = 255) -> MetricCollection:
    """The segmentation metrics, all over non-void pixels, accumulated over the epoch.

    Keys: ``miou`` (mean IoU over classes present in prediction or target), ``iou_per_class`` (``(C,)``,
    NaN for absent classes; log its entries one by one), ``dice`` (macro Dice = macro F1, absent classes
    left out) and ``pixel_acc`` (fraction of correct pixels). ``update(preds, target)`` takes logits
    ``(B, C, H, W)`` or labels ``(B, H, W)``, and a mask ``(B, H, W)`` with ``ignore_index`` for void. The
    statistics are global confusion counts, i.e. dataset-level IoU, not a mean of per-image IoUs.
    """
    _check_ignore_index(num_classes, ignore_index)
    common = {"num_classes": num_classes, "ignore_index": ignore_index}
    return MetricCollection(
        {
            "miou": MulticlassJaccardIndex(average="macro", **common),
            "iou_per_class": MulticlassJaccardIndex(average="none", zero_division=float("nan"), **common),
            "dice": MulticlassF1Score(average="macro", **common),
            "pixel_acc": MulticlassAccuracy(average="micro", **common),
        }
    )


def _soft_dice_loss(logits: Tensor, mask: Tensor, valid: Tensor) -> Tensor:
    """1 - mean over classes of Milletari et al. 2016 (V-Net, eq. 1) Dice, 2 sum(p g) / (sum p^2 + sum g^2).

    Sums run over the batch and all non-void pixels; adding 1 to numerator and denominator keeps classes
    absent from the batch finite (their Dice then rewards predicting them nowhere).
    """
    smooth = 1.0
    keep = valid.unsqueeze(1).to(logits.dtype)
    probs = logits.softmax(dim=1) * keep
    onehot = F.one_hot(mask.where(valid, 0), logits.shape[1]).movedim(-1, 1).to(logits.dtype) * keep
    dims = (0, 2, 3)
    dice = (2 * (probs * onehot).sum(dims) + smooth) / ((probs**2).sum(dims) + (onehot**2).sum(dims) + smooth)
    return 1 - dice.mean()


def segmentation_loss(
    logits: Tensor | Sequence[Tensor],
    mask: Tensor,
    ignore_index: int = 255,
    dice_weight: float = 0.0,
    weight_map: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy over non-void pixels, plus ``dice_weight`` times a soft Dice loss.

    Args:
        logits: ``(B, C, H, W)``, or a list of them (one per hourglass stack), whose losses are summed.
        mask: ``(B, H, W)`` class indices, ``ignore_index`` marking void pixels that add nothing.
        ignore_index: the void label.
        dice_weight: weight of the soft Dice term (Milletari et al. 2016), which also skips void pixels.
        weight_map: optional ``(B, H, W)`` per-pixel weights, e.g. :func:`unet_weight_map`; the CE is then
            ``sum(w * ce) / sum(w)`` over non-void pixels (Ronneberger et al. 2015, eq. 1). It does not
            weight the Dice term.
        label_smoothing: passed to :func:`torch.nn.functional.cross_entropy`.

    Returns:
        A scalar; 0 if every pixel is void.
    """
    if not isinstance(logits, Tensor):
        args = (mask, ignore_index, dice_weight, weight_map, label_smoothing)
        return torch.stack([segmentation_loss(x, *args) for x in logits]).sum()
    if logits.ndim != 4 or logits.shape[:1] + logits.shape[2:] != mask.shape:
        raise ValueError(
            f"Expected logits (B, C, H, W) and mask (B, H, W) of the same B, H, W, got {tuple(logits.shape)} "
            f"and {tuple(mask.shape)}."
        )
    if weight_map is not None and weight_map.shape != mask.shape:
        raise ValueError(f"weight_map has shape {tuple(weight_map.shape)}, expected the mask's {tuple(mask.shape)}.")
    mask = mask.long()
    valid = mask != ignore_index
    ce = F.cross_entropy(logits, mask, ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing)
    weights = valid.to(ce.dtype) if weight_map is None else weight_map.to(ce.dtype) * valid
    loss = (weights * ce).sum() / weights.sum().clamp_min(torch.finfo(ce.dtype).tiny)
    if dice_weight:
        loss = loss + dice_weight * _soft_dice_loss(logits, mask, valid)
    return loss


def _unet_weight_map_2d(mask: np.ndarray, w0: float, sigma: float, ignore_index: int) -> np.ndarray:
    """:func:`unet_weight_map` for one ``(H, W)`` numpy mask."""
    valid = mask != ignore_index
    classes, counts = np.unique(mask[valid], return_counts=True)
    weights = np.zeros(mask.shape, dtype=np.float32)
    for cls, count in zip(classes, counts, strict=True):
        # "balanced" class weights: the mean weight over valid pixels is 1
        weights[mask == cls] = valid.sum() / (len(classes) * count)

    objects = []
    for cls in classes[classes != 0]:
        components, num = ndimage.label(mask == cls)
        objects += [components == index for index in range(1, num + 1)]
    if len(objects) >= 2:
        distances = np.sort(np.stack([ndimage.distance_transform_edt(~obj) for obj in objects]), axis=0)
        border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
        weights += np.where((mask == 0) & valid, border, 0.0).astype(np.float32)
    return weights


def unet_weight_map(mask: MaskT, w0: float = 10.0, sigma: float = 5.0, ignore_index: int = 255) -> MaskT:
    """Per-pixel loss weights of U-Net (Ronneberger et al. 2015, sec. 3, eq. 2).

    ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))``. ``w_c`` balances the class frequencies
    of each image: class ``c`` with ``n_c`` of ``N`` non-void pixels and ``C`` classes present gets
    ``N / (C n_c)``, so the mean weight is 1. ``d1`` and ``d2`` are the distances to the nearest and second
    nearest object, an object being a connected component (4-connectivity) of one foreground class (label
    != 0). The border term is added on background pixels only, where the paper's fig. 3d puts it: in the
    thin gaps that separate touching objects. It needs two objects. Void pixels get weight 0.

    Args:
        mask: integer labels ``(..., H, W)``, numpy or torch (e.g. ``(H, W)`` or ``(B, H, W)``); class 0
            is the background.
        w0: amplitude of the border term.
        sigma: its width in px.
        ignore_index: the void label.

    Returns:
        float32 weights of the mask's shape and type (torch: on the mask's device).
    """
    array = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if array.ndim < 2:
        raise ValueError(f"Expected a mask (..., H, W), got shape {array.shape}.")
    flat = array.reshape(-1, *array.shape[-2:])
    weights = np.stack([_unet_weight_map_2d(m, w0, sigma, ignore_index) for m in flat]).reshape(array.shape)
    return torch.from_numpy(weights).to(mask.device) if isinstance(mask, Tensor) else weights
