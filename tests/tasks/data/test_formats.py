"""Tests of the real-format readers on tiny files written in those formats (see conftest.py)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from tasks.data.common import BadItemError
from tasks.data.formats import CifarPickles, CocoKeypoints, ImageFiles, ImageFolderDataset, MaskFolderDataset


def test_cifar10_reads_batches_labels_and_names(cifar10):
    root, written = cifar10
    train, test = CifarPickles(root, train=True), CifarPickles(root, train=False)
    assert (len(train), len(test)) == (10, 3)
    assert train.variant == "cifar-10" and train.num_classes == 10 and train.class_names[0] == "airplane"
    images, labels = written["data_batch_2"]
    image, label = train[2]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.array_equal(image, images[0]) and label == labels[0]
    assert np.array_equal(test[2][0], written["test_batch"][0][2])


def test_cifar100_reads_fine_labels(cifar100):
    root, written = cifar100
    train = CifarPickles(root, train=True)
    assert train.variant == "cifar-100" and train.num_classes == 100 and train.class_names[7] == "class7"
    assert [train[i][1] for i in range(4)] == written["train"][1]
    assert len(CifarPickles(root, train=False)) == 2


def test_a_cifar_file_that_would_run_code_is_refused_and_runs_nothing(cifar10, payload):
    root, _ = cifar10
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    with batch.open("wb") as file:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"extra": payload}, file)
    with pytest.raises(OSError, match=r"cannot read CIFAR file .*data_batch_1.*builtins\.exec.*refused"):
        CifarPickles(root)
    assert not payload.marker.exists()


def test_cifar_errors_name_the_folder_and_the_file(tmp_path, cifar100):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        CifarPickles(tmp_path / "nothing")
    root, _ = cifar100
    (root / "train").write_bytes(b"garbage")
    with pytest.raises(OSError, match="train"):
        CifarPickles(root)


def test_imagefolder_reads_classes_and_pixels(imagefolder):
    dataset = ImageFolderDataset(imagefolder / "train")
    assert dataset.class_names == ["cat", "dog"] and dataset.num_classes == 2 and len(dataset) == 6
    image, label = dataset[5]
    assert label == 1 and image.shape == (12, 10, 3) and image.dtype == np.uint8


def test_imagefolder_corrupt_image_error_names_its_path(imagefolder):
    broken = imagefolder / "train" / "dog" / "9.png"
    broken.write_bytes(b"\x00garbage bytes")
    dataset = ImageFolderDataset(imagefolder / "train")
    index = [str(path) for path, _ in dataset.samples].index(str(broken))
    with pytest.raises(OSError, match="9.png"):
        dataset[index]


def test_maskfolder_reads_palette_indices_and_keeps_ignore(tmp_path, write):
    mask = np.array([[0, 1, 2], [255, 2, 1]], np.uint8)
    write.mask_pair(tmp_path, "a", mask)
    image, read = MaskFolderDataset(tmp_path, num_classes=3)[0]
    assert image.shape == (2, 3, 3) and read.dtype == np.uint8
    assert np.array_equal(read, mask)  # indices, not palette colours; 255 kept as ignore


def test_maskfolder_value_over_num_classes_names_file_value_and_fix(tmp_path, write):
    write.mask_pair(tmp_path, "bad", np.array([[0, 7], [1, 255]], np.uint8))
    with pytest.raises(ValueError, match=r"bad\.png.* 7 .*num_classes.*255"):
        MaskFolderDataset(tmp_path, num_classes=3)[0]


def test_maskfolder_size_mismatch_names_both_files(tmp_path, write):
    write.png(tmp_path / "images" / "a.png", write.image(5, 5))
    write.png(tmp_path / "masks" / "a.png", np.zeros((4, 5), np.uint8), palette=True)
    with pytest.raises(ValueError, match=r"masks.a\.png.*images.a\.png"):
        MaskFolderDataset(tmp_path, num_classes=2)[0]


def test_maskfolder_refuses_missing_masks_and_colour_masks(tmp_path, write):
    write.png(tmp_path / "images" / "a.jpg", write.image())
    (tmp_path / "masks").mkdir()
    with pytest.raises(FileNotFoundError, match="a.png"):
        MaskFolderDataset(tmp_path, num_classes=2)
    write.png(tmp_path / "masks" / "a.png", write.image())
    with pytest.raises(ValueError, match="mode 'RGB'"):
        MaskFolderDataset(tmp_path, num_classes=2)[0]


def test_coco_keeps_annotated_people_and_reads_metadata(tmp_path, write):
    dataset = CocoKeypoints(tmp_path, write.coco(tmp_path, ".", "ann.json"), image_size=32)
    assert len(dataset) == 2  # the crowd and the annotation without keypoints are skipped
    assert dataset.joint_names == write.coco_names and dataset.num_joints == 5
    assert dataset.flip_pairs == [(1, 2), (3, 4)] and dataset.skeleton == [(0, 1), (0, 2), (3, 4)]


def test_coco_crop_maps_keypoints_onto_the_image(tmp_path, write):
    dataset = CocoKeypoints(tmp_path, write.coco(tmp_path, ".", "ann.json"), image_size=32)
    image, keypoints, visibility, extras = dataset[0]
    assert image.shape == (32, 32, 3) and keypoints.dtype == visibility.dtype == np.float32
    assert extras["image_id"] == 1 and extras["box"].tolist() == [46.25, 21.25, 37.5, 37.5]
    bright = image.mean(axis=2) > 127
    ys, xs = np.nonzero(bright)
    assert np.allclose(keypoints[0], [xs.mean(), ys.mean()], atol=0.3)  # the nose sits on the dot
    assert visibility.tolist() == [1, 0, 0, 1, 1]  # left_eye unlabelled, right_eye outside the crop
    # bbox 30x20 -> square side 37.5 around (65, 40): (115, 95) maps far outside, unclamped
    assert keypoints[2, 0] > 32 and keypoints[2, 1] > 32
    assert np.allclose(keypoints[3], [(55 + 0.5 - 46.25) / (37.5 / 32) - 0.5, (45 + 0.5 - 21.25) / (37.5 / 32) - 0.5])


def test_coco_corrupt_image_error_names_its_path(tmp_path, write):
    ann_file = write.coco(tmp_path, ".", "ann.json")
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(OSError, match="a.png"):
        CocoKeypoints(tmp_path, ann_file, image_size=32)[0]


# --- damaged data sets ---------------------------------------------------------------------------


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_image_names_its_path(tmp_path, write, suffix):
    path = tmp_path / "train" / "cat" / f"0{suffix}"
    path.parent.mkdir(parents=True)
    Image.fromarray(write.image(64, 64)).save(path)
    _truncate(path)
    with pytest.raises(OSError, match=rf"cannot read image .*0\{suffix}"):
        ImageFolderDataset(tmp_path / "train")[0]


def _coco_file(tmp_path, write, edit) -> tuple:
    ann_file = write.coco(tmp_path, ".", "ann.json")
    coco = json.loads(ann_file.read_text())
    edit(coco)
    ann_file.write_text(json.dumps(coco))
    return ann_file


def test_an_empty_coco_annotation_list_names_the_file(tmp_path, write):
    ann_file = _coco_file(tmp_path, write, lambda coco: coco.update(annotations=[]))
    for skip_bad in (False, True):  # nothing to skip to: always an error
        with pytest.raises(BadItemError, match=r"ann.json has no usable person annotation \(0 annotations"):
            CocoKeypoints(tmp_path, ann_file, image_size=32, skip_bad=skip_bad)


def _short_keypoints(coco: dict) -> None:
    coco["annotations"][1]["keypoints"] = coco["annotations"][1]["keypoints"][:-3]  # 4 joints of 5


def test_a_keypoint_array_of_the_wrong_length_names_the_annotation(tmp_path, write):
    ann_file = _coco_file(tmp_path, write, _short_keypoints)
    with pytest.raises(
        BadItemError, match=r"annotation 1 \(id 2\) of .*ann.json: keypoints has 12 values, expected 3 x 5"
    ):
        CocoKeypoints(tmp_path, ann_file, image_size=32)


def test_skip_bad_drops_the_bad_annotation_with_a_warning(tmp_path, write):
    ann_file = _coco_file(tmp_path, write, _short_keypoints)
    with pytest.warns(UserWarning, match=r"skipping a bad item: annotation 1 \(id 2\)"):
        dataset = CocoKeypoints(tmp_path, ann_file, image_size=32, skip_bad=True)
    assert len(dataset) == 1 and len(dataset.skipped) == 1 and "12 values" in dataset.skipped[0]


def test_coco_items_know_their_image_and_the_ground_truth_of_some_images(tmp_path, write):
    dataset = CocoKeypoints(tmp_path, write.coco(tmp_path, ".", "ann.json"), image_size=32)
    assert dataset.groups == [1, 1]  # both people are on image 1
    assert dataset.info(0) == {
        "name": "a.png",
        "image_id": 1,
        "category_id": 1,
        "box": pytest.approx([46.25, 21.25, 37.5, 37.5]),
        "size": (100, 120),
    }
    truth = dataset.ground_truth({1})
    assert [a["id"] for a in truth["annotations"]] == [1, 2, 3, 4]  # crowds and empty people too: COCO ignores them
    assert [c["id"] for c in truth["categories"]] == [1] and len(truth["images"]) == 1
    assert all(a["area"] > 0 for a in truth["annotations"])  # the box's area where the file has none
    assert dataset.ground_truth({2}) == {"images": [], "annotations": [], "categories": truth["categories"]}


def test_image_files_are_found_recursively_in_sorted_order(tmp_path, write):
    for name in ("b.png", "a/c.jpg", "a/b/d.PNG"):
        write.png(tmp_path / name, write.image(12, 20))  # PIL picks the format from the suffix
    (tmp_path / "readme.txt").write_text("not an image")
    files = ImageFiles(tmp_path)
    assert [files.info(i)["name"] for i in range(len(files))] == ["a/b/d.PNG", "a/c.jpg", "b.png"]
    assert files[2][0].shape == (12, 20, 3)


def test_image_files_as_square_crops_pad_the_whole_image(tmp_path, write):
    write.png(tmp_path / "wide.png", write.image(12, 20))
    files = ImageFiles(tmp_path, crop_size=16)
    (crop,) = files[0]
    assert crop.shape == (16, 16, 3) and crop[:3].max() == 0 and crop[-3:].max() == 0  # black bands
    assert files.info(0)["box"].tolist() == [0.0, -4.0, 20.0, 20.0] and files.info(0)["size"] == (12, 20)


def test_image_files_refuse_a_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="must be a folder of images"):
        ImageFiles(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no images"):
        ImageFiles(tmp_path)
