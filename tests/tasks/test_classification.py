"""Tests for tasks.classification.ClassificationTask: a tiny fit, prediction, checkpoint round trip, loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tasks import ClassificationTask
from tasks.data import ClassificationData


@pytest.fixture(scope="module")
def fitted(quiet_trainer):
    """A resnet20 trained for 2 steps on 32-px synthetic shapes, its classes read from the data."""
    torch.manual_seed(0)
    data = ClassificationData(image_size=32, batch_size=8, train_size=16, val_size=8)
    task = ClassificationTask(model="resnet20", num_media=2)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1)
    trainer.fit(task, data)
    return task, trainer, data


def test_fit_logs_top1_and_top5(fitted):
    task, trainer, _ = fitted
    metrics = trainer.callback_metrics
    assert trainer.global_step == 2
    for key in ("val/acc1", "val/acc5", "val/loss", "train/loss"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    assert 0 <= metrics["val/acc1"] <= metrics["val/acc5"] <= 1
    assert task.confusion.confmat.sum() == 0  # reset at the end of every validation epoch


def test_test_split_has_its_own_metrics(fitted):
    task, trainer, data = fitted
    val = {k: v.clone() for k, v in trainer.callback_metrics.items()}
    trainer.test(task, data, verbose=False)
    metrics = trainer.callback_metrics
    # the test loader is the validation split, seen with the same weights
    assert metrics["test/acc1"] == val["val/acc1"] and metrics["test/acc5"] == val["val/acc5"]
    assert metrics["test/loss"].item() == pytest.approx(val["val/loss"].item(), rel=1e-5)


def test_predict_step_returns_probabilities_and_labels(fitted):
    task, _, data = fitted
    images, _ = next(iter(data.val_dataloader()))
    task.eval()
    with torch.no_grad():
        out = task.predict_step((images, torch.zeros(len(images))), 0)
        bare = task.predict_step(images, 0)
    assert set(out) == {"probs", "labels"}
    assert out["probs"].shape == (len(images), 10)
    assert torch.all(out["probs"] >= 0)
    assert out["probs"].sum(1) == pytest.approx(torch.ones(len(images)), abs=1e-5)
    assert torch.equal(out["labels"], out["probs"].argmax(1))
    assert torch.equal(bare["probs"], out["probs"])


def test_checkpoint_rebuilds_the_model_without_a_data_module(fitted, tmp_path):
    task, trainer, data = fitted
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = ClassificationTask.load_from_checkpoint(path, map_location="cpu")
    assert loaded.num_classes == 10 and loaded.class_names == data.class_names
    assert loaded.hparams.model_kwargs == {"in_chans": 3}
    assert type(loaded.net) is type(task.net)
    images = torch.randn(3, 3, 32, 32)
    task.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(images), task(images))


def test_label_smoothing_is_applied():
    logits, target = torch.tensor([[8.0, 0.0, -2.0], [0.0, 5.0, 1.0]]), torch.tensor([0, 1])
    images = torch.zeros(2, 3, 32, 32)
    plain = ClassificationTask(model="resnet20", num_classes=3)
    smooth = ClassificationTask(model="resnet20", num_classes=3, label_smoothing=0.2)
    assert plain.compute_loss(logits, target, images) == pytest.approx(F.cross_entropy(logits, target).item())
    expected = F.cross_entropy(logits, target, label_smoothing=0.2).item()
    assert smooth.compute_loss(logits, target, images) == pytest.approx(expected)
    assert expected > plain.compute_loss(logits, target, images) + 0.1


def test_top5_is_capped_by_the_class_count():
    task = ClassificationTask(model="resnet20", num_classes=3)
    task.val_metrics.update(torch.tensor([[0.0, 1.0, 2.0]] * 4), torch.tensor([0, 1, 2, 2]))
    values = task.val_metrics.compute()
    assert values["val/acc1"] == pytest.approx(0.5) and values["val/acc5"] == pytest.approx(1.0)
