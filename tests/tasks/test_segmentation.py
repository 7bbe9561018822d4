"""Tests for tasks.segmentation.SegmentationTask: a tiny fit, void pixels, valid-padding U-Net crops and
stacked outputs."""

from __future__ import annotations

import pytest
import torch

from tasks import SegmentationTask
from tasks.data import SegmentationData
from tasks.decoding import mask_in_image
from tasks.metrics import segmentation_loss, unet_weight_map
from zoo.models.unet import valid_output_size


def _metric_values(task: SegmentationTask, output, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    task.val_metrics.reset()
    task.update_metrics(output, mask, torch.zeros(len(mask), 3, *mask.shape[-2:]), "val")
    values = task.val_metrics.compute()
    task.val_metrics.reset()
    return values


def test_fit_with_dice_and_border_weights_logs_miou_and_per_class_iou(quiet_trainer):
    torch.manual_seed(0)
    data = SegmentationData(image_size=32, batch_size=8, train_size=16, val_size=8)
    task = SegmentationTask(model="unet_same", model_kwargs={"base_width": 4}, dice_weight=0.5, border_weight=True)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1)
    trainer.fit(task, data)

    metrics = trainer.callback_metrics
    assert task.num_classes == 6 and task.class_names == data.class_names
    for key in ("train/loss", "val/loss", "val/miou", "val/dice", "val/pixel_acc"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    per_class = {k.removeprefix("val/iou/"): v for k, v in metrics.items() if k.startswith("val/iou/")}
    assert "background" in per_class and set(per_class) <= set(data.class_names)
    assert all(0 <= v <= 1 for v in per_class.values())
    assert "val/iou_per_class" not in metrics

    val = {k: v.clone() for k, v in metrics.items()}
    trainer.test(task, data, verbose=False)  # the validation split again, with the same weights
    test = {k.replace("test/", "val/", 1): v for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    assert test.keys() == {k for k in val if k.startswith("val/")}
    for key, value in test.items():
        assert value.item() == pytest.approx(val[key].item(), rel=1e-5), key


def test_void_pixels_change_neither_loss_nor_metrics():
    torch.manual_seed(0)
    task = SegmentationTask(
        model="unet_same", num_classes=3, model_kwargs={"base_width": 4}, dice_weight=1.0, border_weight=True
    )
    mask = torch.zeros(2, 16, 16, dtype=torch.long)
    mask[:, 2:6, 2:6], mask[:, 9:14, 3:8], mask[:, 4:12, 10:14] = 1, 2, 1
    mask[0, :, :3] = 255
    mask[1, 12:, :] = 255
    void = mask == 255
    logits = torch.randn(2, 3, 16, 16)
    garbage = logits.clone()
    garbage[void.unsqueeze(1).expand_as(garbage)] = torch.randn(int(void.sum()) * 3) * 100
    images = torch.zeros(2, 3, 16, 16)

    loss = task.compute_loss(logits, mask, images)
    assert task.compute_loss(garbage, mask, images) == pytest.approx(loss.item(), rel=1e-6)
    clean, noisy = _metric_values(task, logits, mask), _metric_values(task, garbage, mask)
    assert clean.keys() == noisy.keys() >= {"val/miou", "val/dice", "val/pixel_acc", "val/iou_per_class"}
    for key in clean:
        assert torch.allclose(clean[key], noisy[key], equal_nan=True), key

    labelled = mask.where(~void, 0)  # the same pixels, given a class instead: now they count
    assert task.compute_loss(garbage, labelled, images) != pytest.approx(loss.item(), rel=1e-3)


def test_valid_padding_unet_crops_the_mask_to_its_output():
    size = next(s for s in range(188, 300) if (valid_output_size(s, 4) or 0) >= 12)
    out_size = valid_output_size(size, 4)
    task = SegmentationTask(model="unet", num_classes=3, model_kwargs={"base_width": 4, "in_chans": 3})
    torch.manual_seed(0)
    images = torch.randn(1, 3, size, size)
    mask = torch.randint(0, 3, (1, size, size))
    with torch.no_grad():
        output = task(images)
    assert output.shape == (1, 3, out_size, out_size) and out_size < size

    lo = (size - out_size) // 2
    centre = mask[:, lo : lo + out_size, lo : lo + out_size]
    loss = task.compute_loss(output, mask, images)
    assert loss.item() == pytest.approx(segmentation_loss(output, centre, dice_weight=0.5).item(), rel=1e-6)
    corner = mask[:, :out_size, :out_size]
    assert loss.item() != pytest.approx(segmentation_loss(output, corner, dice_weight=0.5).item(), rel=1e-4)

    cropped = _metric_values(task, output, mask)
    assert cropped["val/pixel_acc"] == pytest.approx((output.argmax(1) == centre).float().mean().item())


def test_hourglass_loss_sums_the_stacks_and_metrics_use_the_last():
    torch.manual_seed(0)
    task = SegmentationTask(
        model="hourglass2",
        num_classes=3,
        model_kwargs={"channels": 16, "depth": 2},
        dice_weight=0.5,
        border_weight=True,
    )
    images = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 32, 32, dtype=torch.long)
    mask[:, 4:12, 4:12], mask[:, 14:20, 14:28] = 1, 2
    with torch.no_grad():
        output = task(images)
    assert isinstance(output, list) and len(output) == 2
    assert all(o.shape == (2, 3, 32, 32) for o in output)

    weights = unet_weight_map(mask)
    per_stack = [segmentation_loss(o, mask, 255, 0.5, weights).item() for o in output]
    assert task.compute_loss(output, mask, images).item() == pytest.approx(sum(per_stack), rel=1e-6)

    last = _metric_values(task, output[-1], mask)
    both = _metric_values(task, [torch.randn_like(output[0]) * 100, output[-1]], mask)
    assert torch.allclose(both["val/miou"], last["val/miou"])
    assert torch.equal(task.predict(images)["mask"], output[-1].argmax(1))


def _halves(size: int) -> torch.Tensor:
    """Logits (3, size, size) of class 1 on the left half and class 2 on the right half."""
    logits = torch.zeros(3, size, size)
    logits[1, :, : size // 2] = logits[2, :, size // 2 :] = 5.0
    return logits


def test_mask_in_image_resamples_the_scores_to_the_images_own_size() -> None:
    # an 8x8 input that showed a whole 30x20 image (resized): the boundary at input x = 4 is image x = 15
    mask = mask_in_image(_halves(8), torch.tensor([0.0, 0.0, 30.0, 20.0]), (20, 30), (8, 8))
    assert mask.shape == (20, 30) and mask.dtype == torch.uint8
    assert (mask[:, :15] == 1).all() and (mask[:, 15:] == 2).all()


def test_mask_in_image_marks_what_a_valid_padding_unet_did_not_see() -> None:
    # the logits cover the centre 4x4 of an 8x8 input showing a 16x16 image: image pixels 4..11
    mask = mask_in_image(_halves(4), torch.tensor([0.0, 0.0, 16.0, 16.0]), (16, 16), (8, 8))
    seen = torch.zeros(16, 16, dtype=torch.bool)
    seen[4:12, 4:12] = True
    assert (mask[~seen] == 255).all() and (mask[4:12, 4:8] == 1).all() and (mask[4:12, 8:12] == 2).all()


def test_mask_in_image_resamples_a_large_image_in_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = mask_in_image(_halves(8), torch.tensor([0.0, 0.0, 30.0, 20.0]), (20, 30), (8, 8))
    monkeypatch.setattr("tasks.decoding.MASK_CHUNK", 3 * 30 * 3)  # 3 rows at a time
    assert torch.equal(mask_in_image(_halves(8), torch.tensor([0.0, 0.0, 30.0, 20.0]), (20, 30), (8, 8)), whole)
