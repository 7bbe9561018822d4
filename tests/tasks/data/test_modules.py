"""Tests of the data modules: metadata, batches for each task and source, argument checks."""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from tasks.data.common import BadItemError
from tasks.data.modules import ClassificationData, PoseData, SegmentationData, draw_subset

SMALL = {"batch_size": 4, "train_size": 8, "val_size": 4}


def test_classification_batches_and_metadata():
    data = ClassificationData(**SMALL)
    assert data.num_classes == len(data.class_names) >= 10 and data.in_chans == 3
    data.setup("fit")
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (4,) and labels.dtype == torch.int64


def test_segmentation_batches_and_metadata():
    data = SegmentationData(image_size=48, **SMALL)
    assert data.num_classes == 6 and data.class_names[0] == "background" and data.ignore_index == 255
    data.setup("fit")
    images, masks = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 48, 48) and masks.shape == (4, 48, 48) and masks.dtype == torch.int64
    assert set(masks.unique().tolist()) <= set(range(6)) | {255}


def test_pose_batches_and_metadata():
    data = PoseData(image_size=48, **SMALL)
    assert data.num_joints == len(data.joint_names) == 15 and data.flip_pairs and data.skeleton
    data.setup("fit")
    images, target = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 48, 48)
    assert target["keypoints"].shape == (4, 15, 2) and target["keypoints"].dtype == torch.float32
    assert target["visibility"].shape == (4, 15) and target["visibility"].dtype == torch.float32


def test_synthetic_validation_is_held_out_and_unaugmented():
    data = ClassificationData(**SMALL)
    train, val = data.source_dataset(train=True), data.source_dataset(train=False)
    assert (len(train), len(val)) == (8, 4)
    assert not any(np.array_equal(val[i][0], train[j][0]) for i in range(4) for j in range(8))
    images, _ = next(iter(data.val_dataloader()))
    assert torch.equal(images[0], data.dataset(train=False)[0][0])


def test_augmentations_follow_the_torch_seed():
    data = PoseData(image_size=32, **SMALL)
    batches = []
    for _ in range(2):
        torch.manual_seed(0)
        batches.append(next(iter(data.train_dataloader())))
    assert torch.equal(batches[0][0], batches[1][0])
    assert torch.equal(batches[0][1]["keypoints"], batches[1][1]["keypoints"])


def test_real_sources(imagefolder, maskfolder, coco):
    data = ClassificationData(source="imagefolder", root=str(imagefolder), image_size=16, batch_size=2)
    assert data.class_names == ["cat", "dog"]
    assert next(iter(data.train_dataloader()))[0].shape == (2, 3, 16, 16)
    assert len(data.dataset(train=False)) == 4

    data = SegmentationData(source="maskfolder", root=str(maskfolder), num_classes=3, image_size=16, batch_size=2)
    _, masks = next(iter(data.val_dataloader()))
    assert masks.shape == (2, 16, 16) and masks[0, 0, 0] == 255 and data.num_classes == 3

    data = PoseData(source="coco", root=str(coco), image_size=32, batch_size=2, train_size=1)
    assert data.joint_names[1] == "left_eye" and data.flip_pairs == [(1, 2), (3, 4)]
    # a COCO subset is drawn by image: the one image holds both people
    assert len(data.dataset(train=True)) == 2 and len(data.dataset(train=False)) == 2
    _, target = next(iter(data.val_dataloader()))
    assert target["keypoints"].shape == (2, 5, 2)


def test_cifar_source(cifar10):
    root, _ = cifar10
    data = ClassificationData(source="cifar", root=str(root), batch_size=2)
    assert data.num_classes == 10 and data.class_names[-1] == "truck"
    assert len(data.dataset(train=True)) == 10 and len(data.dataset(train=False)) == 3
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (2, 3, 32, 32) and labels.dtype == torch.int64


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ClassificationData(source="mnist"), r"synthetic, cifar, imagefolder"),
        (lambda: PoseData(source="coco"), "root"),
        (lambda: SegmentationData(source="maskfolder", root="x"), "num_classes"),
        (lambda: SegmentationData(num_classes=3).num_classes, "num_classes=3 but the synthetic scenes have 6"),
        (lambda: ClassificationData(batch_size=0), "batch_size"),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- damaged data sets ---------------------------------------------------------------------------


@pytest.fixture
def damaged(maskfolder):
    """The mask folder with a truncated image (train/1) and a mask of the wrong size (train/2)."""
    image = maskfolder / "train" / "images" / "1.png"
    image.write_bytes(image.read_bytes()[:60])
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(maskfolder / "train" / "masks" / "2.png")
    return maskfolder


def test_a_damaged_item_stops_the_loader_naming_it(damaged):
    data = SegmentationData(source="maskfolder", root=str(damaged), num_classes=3, image_size=16, batch_size=3)
    named = r"item (1 of MaskFolderDataset: cannot read image .*1\.png|2 of MaskFolderDataset: mask .*2\.png is 5x5)"
    with pytest.raises(BadItemError, match=named + ".*skip_bad true"):
        list(data.train_dataloader())


def test_skip_bad_skips_damaged_items_and_counts_them_at_the_end(damaged):
    data = SegmentationData(
        source="maskfolder", root=str(damaged), num_classes=3, image_size=16, batch_size=3, skip_bad=True
    )
    loader = data.train_dataloader()
    with pytest.warns(UserWarning, match="skipping a bad item") as caught:
        for _ in range(2):  # two epochs: each bad item is warned about once
            batches = list(loader)
            assert [len(masks) for _, masks in batches] == [1]
    assert len([w for w in caught if "skipping a bad item" in str(w.message)]) == 2
    skipped = data.skipped("train")
    assert len(skipped) == 2 and any("1.png" in s for s in skipped) and any("is 5x5" in s for s in skipped)
    assert data.skipped("val") == []
    with pytest.warns(UserWarning, match=r"skip_bad: skipped 2 bad items of the training split"):
        data.teardown("fit")


def test_a_rebuilt_loader_lets_the_old_one_go_and_keeps_its_skipped_items(damaged):
    """With reload_dataloaders_every_n_epochs, Lightning builds a loader per epoch: the data module
    must not keep the old ones (nor their persistent workers) alive, nor forget what they skipped."""
    data = SegmentationData(
        source="maskfolder", root=str(damaged), num_classes=3, image_size=16, batch_size=3, skip_bad=True
    )
    first = data.train_dataloader()
    with pytest.warns(UserWarning, match="skipping a bad item"):
        list(first)
    gone = weakref.ref(first)
    del first
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # each bad item was warned about once, by the first loader
        assert [len(masks) for _, masks in data.train_dataloader()] == [1]
    gc.collect()
    assert gone() is None
    assert len(data.skipped("train")) == 2


def test_a_subset_drawn_by_group_keeps_whole_groups():
    groups = [1, 1, 2, 3, 3, 3, 4]
    drawn = draw_subset(len(groups), 3, np.random.default_rng(0), groups)
    kept = {groups[i] for i in drawn}
    assert len(drawn) >= 3 and sorted(drawn) == [i for i, g in enumerate(groups) if g in kept]
    assert len(draw_subset(7, 3, np.random.default_rng(0))) == 3


def test_coco_validation_ground_truth_covers_the_drawn_images(coco_people):
    data = PoseData(source="coco", root=str(coco_people), image_size=32, val_size=2)
    people = data.dataset(train=False).source
    images = {people.dataset.groups[i] for i in people.indices}
    truth = data.coco_ground_truth()
    assert {image["id"] for image in truth["images"]} == images
    assert len(people) == len(truth["annotations"])  # every person of a drawn image, none of the others
    assert PoseData().coco_ground_truth() is None


def test_predicting_a_folder_reads_no_training_data(tmp_path, write):
    write.png(tmp_path / "photos" / "x.png", write.image(30, 40))
    data = PoseData(source="coco", root=str(tmp_path / "gone"), image_size=32, predict_root=str(tmp_path / "photos"))
    data.setup("predict")
    assert data.num_joints is None and data.flip_pairs is None and data.coco_ground_truth() is None
    images, info = next(iter(data.predict_dataloader()))
    assert images.shape == (1, 3, 32, 32) and info["name"] == ["x.png"]
    assert info["box"].tolist() == [[0.0, -5.0, 40.0, 40.0]]  # the whole image, padded to a square
    with pytest.raises(FileNotFoundError):
        data.setup("fit")  # the training data is read again once fitting
