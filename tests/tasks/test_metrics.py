"""Tests for tasks.metrics: PCK, mean joint error, COCO's keypoint AP, segmentation metrics, losses and the
U-Net weight map."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tasks.data import PoseData
from tasks.data.common import input_to_image
from tasks.metrics import (
    PCK,
    CocoKeypointAP,
    MeanJointError,
    segmentation_loss,
    segmentation_metrics,
    unet_weight_map,
)

# two samples, three joints; sample 1 has joint 2 invisible
GT = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]], [[0.0, 0.0], [4.0, 0.0], [0.0, 0.0]]])
VIS = torch.tensor([[1, 2, 1], [1, 1, 0]])
PRED = GT + torch.tensor([[[1.0, 0.0], [0.0, 3.0], [0.0, 2.0]], [[0.0, 0.5], [1.0, 0.0], [50.0, 0.0]]])


def test_pck_bbox_matches_hand_computation():
    # sample 0: box 10 x 5 -> norm 10, radius 2: errors 1, 3, 2 -> 2 correct
    # sample 1: visible box 4 x 0 -> norm 4, radius 0.8: errors 0.5, 1.0 -> 1 correct; joint 2 invisible
    metric = PCK(threshold=0.2)
    metric.update(PRED, GT, VIS)
    assert metric.compute().item() == pytest.approx(3 / 5)

    # accumulation over batches, and an explicit box size: radius 0.2 * 20 = 4 -> 5 of 5
    metric = PCK(threshold=0.2)
    metric.update(PRED[:1], GT[:1], VIS[:1], norm_size=torch.tensor([20.0]))
    metric.update(PRED[1:], GT[1:], VIS[1:], norm_size=torch.tensor([20.0]))
    assert metric.compute().item() == pytest.approx(1.0)


def test_pck_skips_samples_without_extent():
    metric = PCK()
    metric.update(PRED, GT, torch.tensor([[1, 0, 0], [1, 1, 0]]))  # sample 0: one visible joint, norm 0
    assert metric.total.item() == 2
    assert metric.compute().item() == pytest.approx(1 / 2)


def test_pckh_requires_head_size():
    metric = PCK(threshold=0.5, normalize="head")
    with pytest.raises(ValueError, match="norm_size"):
        metric.update(PRED, GT, VIS)
    # radius 0.5 * 4 = 2 and 0.5 * 1 = 0.5: sample 0 errors 1, 3, 2 -> 2; sample 1 errors 0.5, 1 -> 1
    metric.update(PRED, GT, VIS, norm_size=torch.tensor([4.0, 1.0]))
    assert metric.compute().item() == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="normalize"):
        PCK(normalize="torso")


def test_mean_joint_error():
    metric = MeanJointError()
    metric.update(PRED, GT, VIS)
    assert metric.compute().item() == pytest.approx((1 + 3 + 2 + 0.5 + 1) / 5)
    with pytest.raises(ValueError, match="visibility"):
        metric.update(PRED, GT, VIS[:, :2])


def _confusion(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    keep = target != 255
    return np.bincount(target[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def test_segmentation_metrics_match_numpy_confusion_matrix():
    torch.manual_seed(0)
    num_classes = 5
    metrics = segmentation_metrics(num_classes)
    confmat = np.zeros((num_classes, num_classes), dtype=np.int64)
    for _ in range(3):
        logits = torch.randn(2, num_classes, 16, 12)
        target = torch.randint(0, num_classes - 1, (2, 16, 12))  # class 4 never in the target...
        target[torch.rand(target.shape) < 0.2] = 255
        logits[:, 4] -= 100  # ...nor predicted: absent
        metrics.update(logits, target)
        confmat += _confusion(logits.argmax(1).numpy().ravel(), target.numpy().ravel(), num_classes)

    result = metrics.compute()
    tp, fp, fn = np.diag(confmat), confmat.sum(0) - np.diag(confmat), confmat.sum(1) - np.diag(confmat)
    present = tp + fp + fn > 0
    assert present.tolist() == [True] * 4 + [False]
    iou = tp[present] / (tp + fp + fn)[present]
    np.testing.assert_allclose(result["iou_per_class"][:4].numpy(), iou, rtol=1e-5)
    assert torch.isnan(result["iou_per_class"][4])
    assert result["miou"].item() == pytest.approx(iou.mean(), rel=1e-5)
    dice = 2 * tp[present] / (2 * tp + fp + fn)[present]
    assert result["dice"].item() == pytest.approx(dice.mean(), rel=1e-5)
    assert result["pixel_acc"].item() == pytest.approx(tp.sum() / confmat.sum(), rel=1e-5)


def test_dice_honours_ignore_index():
    target = torch.tensor([[0, 0, 1, 1, 255, 255]])
    preds = torch.tensor([[0, 1, 1, 1, 0, 1]])
    # class 0: tp 1, fp 0, fn 1 -> 2/3; class 1: tp 2, fp 1, fn 0 -> 4/5; class 2 absent
    result = segmentation_metrics(3)(preds, target)
    assert result["dice"].item() == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert result["pixel_acc"].item() == pytest.approx(3 / 4)


def test_ignore_index_must_not_be_a_class():
    with pytest.raises(ValueError, match="ignore_index"):
        segmentation_metrics(4, ignore_index=3)


def test_void_pixels_change_neither_metrics_nor_loss():
    torch.manual_seed(0)
    num_classes = 4
    logits = torch.randn(2, num_classes, 10, 10)
    mask = torch.randint(0, num_classes - 1, (2, 10, 10))  # class 3 absent
    weight_map = torch.rand(2, 10, 10) + 0.5
    # extra void columns whose predictions are confidently class 3, and whose weights are large
    garbage = torch.zeros(2, num_classes, 10, 6)
    garbage[:, 3] = 50.0
    logits_ext = torch.cat([logits, garbage], dim=-1)
    mask_ext = torch.cat([mask, torch.full((2, 10, 6), 255)], dim=-1)
    weight_ext = torch.cat([weight_map, torch.full((2, 10, 6), 100.0)], dim=-1)

    base, extended = (
        segmentation_metrics(num_classes)(logits, mask),
        segmentation_metrics(num_classes)(logits_ext, mask_ext),
    )
    for key in base:
        torch.testing.assert_close(base[key], extended[key], equal_nan=True)
    options = {"dice_weight": 0.5, "label_smoothing": 0.1}
    torch.testing.assert_close(
        segmentation_loss(logits, mask, weight_map=weight_map, **options),
        segmentation_loss(logits_ext, mask_ext, weight_map=weight_ext, **options),
    )


def test_segmentation_loss_reduces_to_cross_entropy_and_sums_stacks():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 6, 6)
    mask = torch.randint(0, 3, (2, 6, 6))
    mask[0, 0] = 255
    expected = F.cross_entropy(logits, mask, ignore_index=255)
    torch.testing.assert_close(segmentation_loss(logits, mask), expected)
    torch.testing.assert_close(segmentation_loss(logits, mask, weight_map=torch.full((2, 6, 6), 3.0)), expected)
    stacks = [logits, 2 * logits]
    torch.testing.assert_close(
        segmentation_loss(stacks, mask, dice_weight=1.0),
        segmentation_loss(logits, mask, dice_weight=1.0) + segmentation_loss(2 * logits, mask, dice_weight=1.0),
    )
    assert segmentation_loss(logits, torch.full_like(mask, 255)).item() == 0.0


def test_soft_dice_term_vanishes_for_a_perfect_prediction():
    mask = torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    mask[:, 0] = 255
    logits = 100.0 * F.one_hot(mask.where(mask != 255, 0), 3).movedim(-1, 1).float()
    logits[:, :, 0] = torch.randn(2, 3, 8)  # void row: anything
    with_dice = segmentation_loss(logits, mask, dice_weight=1.0)
    assert with_dice.item() == pytest.approx(segmentation_loss(logits, mask).item(), abs=1e-5)
    assert segmentation_loss(torch.zeros_like(logits), mask, dice_weight=1.0) > 1.0


def test_unet_weight_map_peaks_between_close_objects():
    mask = np.zeros((64, 80), dtype=np.int64)
    mask[10:20, 10:20] = 1
    mask[10:20, 22:32] = 1  # a 2 px gap at columns 20, 21
    mask[60:, :4] = 255
    weights = unet_weight_map(mask, w0=10.0, sigma=5.0)

    valid = mask != 255
    num_fg, num_bg = (mask == 1).sum(), (mask == 0).sum()
    w_bg, w_fg = valid.sum() / (2 * num_bg), valid.sum() / (2 * num_fg)
    assert weights.dtype == np.float32 and weights.shape == mask.shape
    assert weights[59, 79] == pytest.approx(w_bg, rel=1e-5)  # far from both objects: the class weight
    assert weights[15, 15] == pytest.approx(w_fg, rel=1e-5)  # inside an object: the class weight
    # gap pixel in column 20: 1 px from the left object, 2 px from the right one
    assert weights[15, 20] == pytest.approx(w_bg + 10 * np.exp(-(3**2) / (2 * 5**2)), rel=1e-5)
    assert weights[15, 20] > weights[15, 40] > weights[59, 79]
    assert np.all(weights[~valid] == 0)
    assert unet_weight_map(mask, w0=0.0)[valid].mean() == pytest.approx(1.0)  # w_c alone is balanced


def test_unet_weight_map_on_torch_batches():
    masks = torch.zeros(2, 32, 32, dtype=torch.long)
    masks[0, 5:10, 5:10] = 1
    masks[0, 5:10, 12:20] = 2
    masks[1, 20:30, 20:30] = 1  # one object: no border term
    weights = unet_weight_map(masks)
    assert isinstance(weights, torch.Tensor) and weights.shape == masks.shape and weights.dtype == torch.float32
    for weight, mask in zip(weights, masks, strict=True):
        np.testing.assert_array_equal(weight.numpy(), unet_weight_map(mask.numpy()))
    assert weights[1].unique().numel() == 2


# --- COCO keypoint AP ---------------------------------------------------------------------------


def _coco_ap_of(data: PoseData, shift_px: float = 0.0) -> dict[str, float]:
    """COCO AP of predictions made in the validation crops: each person's true keypoints moved right by
    ``shift_px`` image pixels, mapped back to the image as validation does (`input_to_image`)."""
    metric = CocoKeypointAP(data.coco_ground_truth())
    for images, target in data.val_dataloader():
        box = target["box"]
        crop_keypoints = target["keypoints"] + torch.tensor([shift_px, 0.0]) * (data.image_size / box[:, 2:3, None])
        in_image = input_to_image(crop_keypoints, box, tuple(images.shape[-2:]))
        metric.update(in_image, torch.ones(len(images)), target["image_id"])
    return {k: round(float(v), 6) for k, v in metric.compute().items()}


def test_coco_ap_is_one_for_perfect_predictions(coco_people) -> None:
    data = PoseData(source="coco", root=str(coco_people), image_size=32, batch_size=4)
    assert _coco_ap_of(data) == {"ap": 1.0, "ap50": 1.0, "ap75": 1.0}


@pytest.mark.parametrize(
    ("shift_px", "expected"),
    [
        # one labelled joint, the nose (COCO sigma 0.026), area 1600: OKS = exp(-d^2 / (8 * 1600 * 0.026^2))
        # = exp(-d^2 / 8.6528); AP averages the thresholds .50, .55, ..., .95 that OKS reaches
        (1.504, {"ap": 0.6, "ap50": 1.0, "ap75": 1.0}),  # OKS 0.770: .50 to .75
        (1.650, {"ap": 0.5, "ap50": 1.0, "ap75": 0.0}),  # OKS 0.730: .50 to .70
        (2.379, {"ap": 0.1, "ap50": 1.0, "ap75": 0.0}),  # OKS 0.520: .50 only
        (2.520, {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}),  # OKS 0.480: none
    ],
)
def test_coco_ap50_and_ap75_match_a_hand_computed_oks(tmp_path, write, shift_px, expected) -> None:
    """A 40x40 person box at (25, 15) in a 100x80 image becomes a 50x50 crop, shown at 32x32 (1.5625 image
    px per crop px): a wrong crop-to-image map moves the prediction by a fraction of a pixel, enough to
    cross a threshold."""
    write.png(tmp_path / "val2017" / "p.png", write.image(80, 100))
    nose = [61.0, 33.0, 2] + [0, 0, 0] * 16
    person = {"id": 7, "image_id": 3, "category_id": 1, "iscrowd": 0, "bbox": [25, 15, 40, 40], "area": 1600}
    images = [{"id": 3, "file_name": "p.png", "width": 100, "height": 80}]
    ann = tmp_path / "annotations" / "person_keypoints_val2017.json"
    write.coco_person_file(ann, images, [person | {"num_keypoints": 1, "keypoints": nose}])
    data = PoseData(source="coco", root=str(tmp_path), image_size=32, batch_size=1)
    assert _coco_ap_of(data, shift_px) == expected


def test_coco_ap_needs_sigmas_for_other_joint_sets(coco) -> None:
    data = PoseData(source="coco", root=str(coco), image_size=32)  # 5 joints: not COCO's 17
    with pytest.raises(ValueError, match="one OKS sigma per joint.*give oks_sigmas"):
        CocoKeypointAP(data.coco_ground_truth())
    metric = CocoKeypointAP(data.coco_ground_truth(), sigmas=[0.05] * 5)
    assert metric.compute()["ap"] == 0  # no prediction yet
