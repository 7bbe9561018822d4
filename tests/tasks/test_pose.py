"""Tests for tasks.pose.PoseTask: a tiny fit, PCKh with head sizes, target weights, flip test, prediction."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from tasks import PoseTask
from tasks.data import PoseData
from tasks.heatmaps import decode_heatmaps, encode_heatmaps, flip_test, heatmap_loss, last_output

TINY_HOURGLASS = {"channels": 16, "depth": 2}


class _WithHeadSize(Dataset):
    """A pose dataset whose targets also carry a head segment length in px."""

    def __init__(self, items: Dataset, head_size: float) -> None:
        self.items, self.head_size = items, head_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image, target = self.items[index]
        return image, target | {"head_size": torch.tensor(self.head_size)}


@pytest.fixture(scope="module")
def fitted(quiet_trainer):
    torch.manual_seed(0)
    data = PoseData(image_size=32, batch_size=8, train_size=16, val_size=8)
    task = PoseTask(model="hourglass1", model_kwargs=TINY_HOURGLASS)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1)
    trainer.fit(task, data)
    return task, trainer, data


def test_fit_logs_pck_and_joint_error(fitted):
    task, trainer, data = fitted
    metrics = trainer.callback_metrics
    assert task.num_joints == data.num_joints == 15
    for key in ("train/loss", "val/loss", "val/pck", "val/joint_error_px"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    assert 0 <= metrics["val/pck"] <= 1 and metrics["val/joint_error_px"] >= 0
    assert "val/pckh" not in metrics  # the synthetic figures have no head sizes


def test_pckh_is_logged_when_targets_have_head_sizes(fitted, quiet_trainer):
    task, _, data = fitted
    for head_size, expected in ((1e6, 1.0), (1e-6, None)):
        loader = DataLoader(_WithHeadSize(data.dataset(train=False), head_size), batch_size=8)
        trainer = quiet_trainer()
        trainer.validate(task, loader, verbose=False)
        metrics = trainer.callback_metrics
        assert "val/pckh" in metrics and "val/pck" in metrics
        if expected is not None:  # every visible joint lies within half of a huge head
            assert metrics["val/pckh"].item() == pytest.approx(expected)
        else:  # and none within half of a tiny one
            assert metrics["val/pckh"].item() == pytest.approx(0.0)


def test_an_invisible_joint_does_not_change_the_loss():
    torch.manual_seed(0)
    task = PoseTask(model="hourglass1", num_joints=4, model_kwargs=TINY_HOURGLASS)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        output = task(images)
    keypoints = torch.tensor([[[5.0, 6.0], [20.0, 10.0], [12.0, 25.0], [28.0, 3.0]]]).repeat(2, 1, 1)
    visibility = torch.ones(2, 4)
    visibility[0, 2] = 0

    def loss(kpts):
        return task.compute_loss(output, {"keypoints": kpts, "visibility": visibility}, images).item()

    moved_hidden, moved_seen = keypoints.clone(), keypoints.clone()
    moved_hidden[0, 2] = torch.tensor([30.0, 1.0])
    moved_seen[1, 2] = torch.tensor([30.0, 1.0])
    assert loss(moved_hidden) == loss(keypoints)
    assert loss(moved_seen) != pytest.approx(loss(keypoints), rel=1e-6)


def test_loss_is_summed_over_hourglass_stacks():
    torch.manual_seed(0)
    task = PoseTask(model="hourglass2", num_joints=4, model_kwargs=TINY_HOURGLASS, sigma=1.5)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        output = task(images)
    assert isinstance(output, list) and len(output) == 2 and output[0].shape == (2, 4, 8, 8)
    target = {"keypoints": torch.rand(2, 4, 2) * 31, "visibility": torch.ones(2, 4)}
    heatmaps, weights = encode_heatmaps(target["keypoints"], target["visibility"], (32, 32), (8, 8), 1.5)
    expected = sum(heatmap_loss(o, heatmaps, weights).item() for o in output)
    assert task.compute_loss(output, target, images).item() == pytest.approx(expected, rel=1e-6)


def test_flip_test_predictions():
    torch.manual_seed(0)
    pairs = [(0, 1), (2, 3)]
    task = PoseTask(
        model="hourglass1", num_joints=5, flip_pairs=pairs, use_flip_test=True, model_kwargs=TINY_HOURGLASS
    ).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        keypoints, scores = task.predict_keypoints(images)
        expected, expected_scores = decode_heatmaps(flip_test(task, images, pairs), (32, 32))
        plain, _ = decode_heatmaps(last_output(task(images)), (32, 32))
    assert keypoints.shape == (3, 5, 2) and scores.shape == (3, 5)
    assert torch.equal(keypoints, expected) and torch.equal(scores, expected_scores)
    assert not torch.equal(keypoints, plain)  # the flipped pass was used
    assert ((keypoints >= -0.5) & (keypoints <= 31.5)).all()


def test_predict_step_returns_keypoints_and_scores(fitted):
    task, _, data = fitted
    images, _ = next(iter(data.val_dataloader()))
    task.eval()
    with torch.no_grad():
        out = task.predict_step((images, None), 0)
    assert set(out) == {"keypoints", "scores"}
    assert out["keypoints"].shape == (len(images), 15, 2) and out["scores"].shape == (len(images), 15)
    expected, _ = decode_heatmaps(last_output(task(images)), (32, 32))
    assert torch.equal(out["keypoints"], expected)
