"""Writers of tiny datasets in the real on-disk formats, shared by the reader and data-module tests.

The `write` fixture writes single files; the other fixtures write whole dataset folders.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # the tests import albumentations before tasks.data


class Writer:
    """Writes images, palette masks, CIFAR pickles and COCO annotation files with random content."""

    coco_names = ["nose", "left_eye", "right_eye", "left_wrist", "right_wrist"]

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def image(self, height: int = 12, width: int = 10) -> np.ndarray:
        return self.rng.integers(0, 256, (height, width, 3), dtype=np.uint8)

    def png(self, path: Path, array: np.ndarray, palette: bool = False) -> Path:
        """Save `array` as a PNG; with `palette`, as a mode "P" image whose indices are `array`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if palette:
            image = Image.frombytes("P", array.shape[::-1], np.ascontiguousarray(array, np.uint8).tobytes())
            image.putpalette(self.rng.integers(0, 256, 768, dtype=np.uint8).tobytes())  # colours unlike indices
        else:
            image = Image.fromarray(array)
        image.save(path)
        return path

    def mask_pair(self, root: Path, stem: str, mask: np.ndarray) -> tuple[Path, Path]:
        """root/images/<stem>.png (random pixels) and root/masks/<stem>.png (palette `mask`)."""
        image = self.png(root / "images" / f"{stem}.png", self.image(*mask.shape))
        return image, self.png(root / "masks" / f"{stem}.png", mask, palette=True)

    def cifar(self, folder: Path, files: dict[str, int], label_key: bytes, meta: tuple[str, bytes, list[str]]) -> dict:
        """CIFAR pickles {file name: number of images}; returns {file name: (images NHWC, labels)}."""
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, count in files.items():
            images = self.rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
            labels = self.rng.integers(0, len(meta[2]), count).tolist()
            data = images.transpose(0, 3, 1, 2).reshape(count, 3072)  # a row: R plane, G plane, B plane
            with open(folder / name, "wb") as file:
                pickle.dump({b"data": data, label_key: labels, b"batch_label": name.encode()}, file)
            written[name] = (images, labels)
        with open(folder / meta[0], "wb") as file:
            pickle.dump({meta[1]: [n.encode() for n in meta[2]]}, file)
        return written

    def coco(self, root: Path, image_dir: str, ann_file: str) -> Path:
        """An image with a bright 3x3 dot at (61, 41) and two people, plus a crowd and an empty annotation.

        Person 1 (bbox 50,30,30,20): nose on the dot, left_eye unlabelled (v=0), right_eye far outside
        the crop, wrists inside. Person 2: one labelled keypoint.
        """
        pixels = np.zeros((100, 120, 3), np.uint8)
        pixels[40:43, 60:63] = 255
        self.png(root / image_dir / "a.png", pixels)
        person = {"image_id": 1, "category_id": 1, "iscrowd": 0}
        nothing = [0, 0, 0]
        coco = {
            "images": [{"id": 1, "file_name": "a.png", "width": 120, "height": 100}],
            "categories": [
                {"id": 1, "name": "person", "keypoints": self.coco_names, "skeleton": [[1, 2], [1, 3], [4, 5]]},
                {"id": 2, "name": "car"},
            ],
            "annotations": [
                person
                | {
                    "id": 1,
                    "num_keypoints": 4,
                    "bbox": [50, 30, 30, 20],
                    "keypoints": [61, 41, 2, *nothing, 115, 95, 1, 55, 45, 2, 75, 45, 1],
                },
                person
                | {"id": 2, "num_keypoints": 1, "bbox": [10, 10, 20, 40], "keypoints": [20, 15, 2] + nothing * 4},
                person | {"id": 3, "num_keypoints": 0, "bbox": [0, 0, 5, 5], "keypoints": nothing * 5},
                person
                | {
                    "id": 4,
                    "iscrowd": 1,
                    "num_keypoints": 2,
                    "bbox": [0, 0, 50, 50],
                    "keypoints": [20, 15, 2, 25, 15, 2] + nothing * 3,
                },
            ],
        }
        path = root / ann_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(coco))
        return path


@pytest.fixture
def write() -> Writer:
    return Writer()


@pytest.fixture
def cifar10(tmp_path: Path, write: Writer) -> tuple[Path, dict]:
    """A CIFAR-10 folder (inside its usual cifar-10-batches-py subfolder) with 2 images per batch."""
    files = {f"data_batch_{i}": 2 for i in range(1, 6)} | {"test_batch": 3}
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    root = tmp_path / "cifar10"
    return root, write.cifar(root / "cifar-10-batches-py", files, b"labels", ("batches.meta", b"label_names", names))


@pytest.fixture
def cifar100(tmp_path: Path, write: Writer) -> tuple[Path, dict]:
    """A CIFAR-100 folder with fine labels."""
    names = [f"class{i}" for i in range(100)]
    root = tmp_path / "cifar100"
    return root, write.cifar(root, {"train": 4, "test": 2}, b"fine_labels", ("meta", b"fine_label_names", names))


@pytest.fixture
def imagefolder(tmp_path: Path, write: Writer) -> Path:
    """root/{train,val}/{cat,dog}/*.png with 3 train and 2 val images per class."""
    root = tmp_path / "imagefolder"
    for split, count in (("train", 3), ("val", 2)):
        for cls in ("cat", "dog"):
            for i in range(count):
                write.png(root / split / cls / f"{i}.png", write.image())
    return root


@pytest.fixture
def maskfolder(tmp_path: Path, write: Writer) -> Path:
    """root/{train,val}/{images,masks} with 3-class palette masks (values 0, 1, 2 and 255)."""
    root = tmp_path / "maskfolder"
    for split in ("train", "val"):
        for i in range(3):
            mask = write.rng.integers(0, 3, (12, 10), dtype=np.uint8)
            mask[0, 0] = 255
            write.mask_pair(root / split, f"{i}", mask)
    return root


@pytest.fixture
def coco(tmp_path: Path, write: Writer) -> Path:
    """A COCO-2017-like root: train2017/, val2017/ and annotations/person_keypoints_{train,val}2017.json."""
    root = tmp_path / "coco"
    for split in ("train2017", "val2017"):
        write.coco(root, split, f"annotations/person_keypoints_{split}.json")
    return root
