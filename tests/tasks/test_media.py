"""Tests for tasks.media (images back to uint8, poses drawn) and for the tasks' W&B media hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger

from tasks import ClassificationTask, PoseTask, SegmentationTask
from tasks.data import ClassificationData, PoseData, SegmentationData
from tasks.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transforms
from tasks.media import draw_poses, to_uint8_images
from tasks.wandb_records import read_run, wait_closed


def _closed_run(root: Path) -> Path:
    """The one offline run folder under ``root``, once W&B has written it out."""
    (run_dir,) = (root / "wandb").glob("offline-run-*")
    return wait_closed(run_dir)


# --- to_uint8_images -------------------------------------------------------------------------------


def test_to_uint8_images_inverts_the_data_pipeline_normalisation():
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    originals[0, 0, 0] = (0, 255, 128)
    transform = build_transforms("classification", 10, train=False)
    batch = torch.stack([transform(img[:, :10].copy(), 0)[0] for img in originals])  # the pipeline's tensors
    assert batch.shape == (3, 3, 10, 10) and batch.abs().max() > 1.5  # normalised, not in [0, 1]

    restored = to_uint8_images(batch)
    assert len(restored) == 3
    for image, original in zip(restored, originals, strict=True):
        assert image.dtype == np.uint8 and image.shape == (10, 10, 3)
        assert np.abs(image.astype(int) - original[:, :10].astype(int)).max() <= 1


def test_to_uint8_images_by_hand_and_clamped():
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = torch.tensor([[[0.0, 64.0], [200.0, 255.0]]]).repeat(3, 1, 1)  # (3, 2, 2)
    batch = ((pixels / 255 - mean) / std).unsqueeze(0)
    batch[0, :, 0, 0] = -100.0  # far below black
    batch[0, :, 1, 1] = 100.0  # far above white
    (image,) = to_uint8_images(batch)
    assert image[:, :, 0].tolist() == [[0, 64], [200, 255]]
    assert image[0, 1].tolist() == [64, 64, 64]


# --- draw_poses ------------------------------------------------------------------------------------


def _coloured(canvas: np.ndarray, colour: tuple[int, int, int], x: float, y: float, radius: int) -> int:
    """Pixels of exactly ``colour`` within ``radius`` of canvas point (x, y)."""
    window = canvas[int(y) - radius : int(y) + radius + 1, int(x) - radius : int(x) + radius + 1]
    return int(np.all(window == colour, axis=-1).sum())


def test_draw_poses_draws_visible_joints_only():
    image = np.full((16, 16, 3), 40, np.uint8)
    keypoints = np.array([[3.0, 4.0], [12.0, 12.0], [12.0, 3.0]])
    red, green = (230, 30, 30), (0, 200, 0)
    canvas = draw_poses(image, [(keypoints, np.array([1, 0, 1]), red)], skeleton=[(0, 1), (0, 2)], scale=4)

    assert canvas.shape == (64, 64, 3) and canvas.dtype == np.uint8
    assert image.max() == 40  # the input is not drawn on
    centre = (keypoints + 0.5) * 4
    assert _coloured(canvas, red, *centre[0], 4) > 0
    assert _coloured(canvas, red, *centre[2], 4) > 0
    assert _coloured(canvas, red, *centre[1], 5) == 0  # invisible joint, and no limb to it
    assert _coloured(canvas, red, *(centre[0] + centre[2]) / 2, 1) > 0  # the limb between visible joints
    assert not np.any(np.all(canvas == green, axis=-1))

    second = draw_poses(image, [(keypoints, np.array([1, 0, 1]), red), (keypoints + 1, np.ones(3), green)], [])
    assert _coloured(second, green, *(centre[1] + 4), 4) > 0
    assert _coloured(second, red, *(centre[0] + centre[2]) / 2, 1) == 0  # no skeleton given, no limbs


# --- the tasks' media, through W&B ---------------------------------------------------------------


def test_tasks_log_predictions_to_wandb(tmp_path, monkeypatch):
    """One offline W&B run, four 1-step fits: each task logs its fixed validation batch as pictures."""
    import wandb

    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(mode="offline", dir=tmp_path, project="t")
    try:
        tiny = {"image_size": 32, "batch_size": 4, "train_size": 4, "val_size": 4}
        cases = [
            (ClassificationTask(model="resnet20", num_media=3), ClassificationData(**tiny)),
            (
                SegmentationTask(model="unet_same", model_kwargs={"base_width": 4}, num_media=2),
                SegmentationData(**tiny),
            ),
            (PoseTask(model="hourglass1", model_kwargs={"channels": 16, "depth": 2}, num_media=2), PoseData(**tiny)),
            (  # valid padding: 204 px in, 20 px out; the pictures are cropped to the masks
                SegmentationTask(model="unet", model_kwargs={"base_width": 4}, num_media=1),
                SegmentationData(**(tiny | {"image_size": 204})),
            ),
        ]
        for task, data in cases:
            trainer = pl.Trainer(
                max_steps=1,
                accelerator="cpu",
                logger=WandbLogger(experiment=run),
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
            )
            trainer.fit(task, data)  # the sanity check runs validation too, and must log nothing
    finally:
        run.finish()

    history = read_run(_closed_run(tmp_path))["history"]
    rows = [row for row in history if "val/predictions._type" in row]
    assert len(rows) == 4  # one validation epoch per fit; the sanity checks logged no pictures
    classification, segmentation, pose, valid_unet = rows
    assert classification["val/predictions.count"] == 3 and classification["val/predictions.width"] == 32
    assert all(c.startswith("true ") and " / pred " in c for c in classification["val/predictions.captions"])
    (confusion,) = [row for row in history if "val/confusion_matrix_table._type" in row]
    assert confusion["val/confusion_matrix_table.nrows"] == 10 * 10  # (actual, predicted) pairs
    assert segmentation["val/predictions.count"] == 2
    assert [set(masks) for masks in segmentation["val/predictions.all_masks"]] == [{"ground_truth", "prediction"}] * 2
    assert pose["val/predictions.count"] == 2 and pose["val/predictions.width"] == 4 * 32
    assert valid_unet["val/predictions.count"] == 1
    assert (valid_unet["val/predictions.width"], valid_unet["val/predictions.height"]) == (20, 20)
