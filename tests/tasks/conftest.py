"""Fixtures shared by the task tests: quiet trainers, and writers of tiny datasets in the real on-disk
formats (CIFAR pickles, image folders, mask folders, COCO keypoints), used by the reader, data-module,
command-line and bench tests.

The `write` fixture writes single files; the other fixtures write whole dataset folders.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
from PIL import Image

from tasks.trainers import quiet_trainer as make_quiet_trainer
from tasks.wandb_records import read_run

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # the tests import albumentations before tasks.data


@pytest.fixture(scope="session")
def quiet_trainer() -> Callable[..., pl.Trainer]:
    """`tasks.trainers.quiet_trainer`: CPU trainers that log, checkpoint, print and sanity-check
    nothing unless asked."""
    return make_quiet_trainer


class Zoo:
    """Runs the `zoo` command as a user does, in a clean environment (no W&B login, so W&B goes offline
    by itself), and reads back what a run wrote."""

    executable = str(Path(sys.executable).with_name("zoo"))

    def __call__(self, args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """``zoo <args>`` in ``cwd`` (also its HOME); a failure shows the end of its stderr."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        clean.update(HOME=str(cwd), **env)
        proc = subprocess.run([self.executable, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"zoo {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
        return proc

    @staticmethod
    def metrics(run: Path) -> list[dict[str, str]]:
        """The rows of the run's newest local CSV log."""
        (log,) = sorted(run.glob("csv/version_*/metrics.csv"))[-1:]
        with log.open() as file:
            return list(csv.DictReader(file))

    @staticmethod
    def last(rows: list[dict[str, str]], key: str) -> float:
        """The last value of ``key`` in CSV log rows."""
        return float([row[key] for row in rows if row.get(key)][-1])

    @staticmethod
    def wandb(run: Path) -> dict:
        """The run's offline W&B run, read back from its records."""
        (folder,) = run.glob("wandb/offline-run-*")
        return read_run(folder)


@pytest.fixture(scope="session")
def zoo() -> Zoo:
    """`Zoo`: run the `zoo` command and read its runs back."""
    return Zoo()


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

    def coco_person_file(self, path: Path, images: list[dict], annotations: list[dict]) -> Path:
        """A COCO keypoints file with the person category (17 keypoints, COCO's skeleton)."""
        person = {"id": 1, "name": "person", "keypoints": COCO_PERSON, "skeleton": COCO_SKELETON}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [person]}))
        return path

    def coco_people(self, root: Path, image_dir: str, ann_file: str, count: int) -> Path:
        """``count`` random 64x48 images under root/image_dir, each with one or two people (17 keypoints,
        a few unlabelled), and their annotation file root/ann_file."""
        images, annotations = [], []
        for image_id in range(1, count + 1):
            self.png(root / image_dir / f"{image_id:04d}.png", self.image(48, 64))
            images.append({"id": image_id, "file_name": f"{image_id:04d}.png", "width": 64, "height": 48})
            for _ in range(1 + image_id % 2):
                x, y = self.rng.uniform(0, 30), self.rng.uniform(0, 14)
                w, h = self.rng.uniform(16, 32), self.rng.uniform(24, 32)
                points = np.column_stack([self.rng.uniform(x, x + w, 17), self.rng.uniform(y, y + h, 17)])
                labelled = np.where(self.rng.random(17) < 0.85, 2, 0)
                keypoints = np.column_stack([points * (labelled[:, None] > 0), labelled]).ravel()
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": 1,
                        "iscrowd": 0,
                        "bbox": [x, y, w, h],
                        "area": w * h,
                        "num_keypoints": int((labelled > 0).sum()),
                        "keypoints": keypoints.round(2).tolist(),
                    }
                )
        return self.coco_person_file(root / ann_file, images, annotations)


COCO_PERSON = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
]  # fmt: skip
"""COCO's 17 person keypoints, in order."""
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11],
    [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip


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


@pytest.fixture
def coco_people(tmp_path: Path, write: Writer) -> Path:
    """A COCO-2017-like root with COCO's 17 person keypoints: 6 training and 4 validation images of one or
    two people each."""
    root = tmp_path / "coco_people"
    for split, count in (("train2017", 6), ("val2017", 4)):
        write.coco_people(root, split, f"annotations/person_keypoints_{split}.json", count)
    return root
