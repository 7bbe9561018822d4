"""Readers for real dataset formats on local disk: CIFAR pickles, ImageFolder, image+mask folders, COCO.

Nothing is downloaded: each reader takes paths to files the user already has. Every reader returns
the same item types as the synthetic set of its task (numpy HxWx3 uint8 images; int labels; HxW
uint8 masks; float32 keypoints and visibility), so the transforms and data modules do not care where
an item came from. Problems surface as errors that name the file, the bad value and the fix:
checks that are cheap run when the reader is built, the rest when the item is read.

For `zoo predict`, a reader's ``info(index)`` names an item (its file, relative to the reader's
folder) and, for the COCO crops, gives the box the crop shows and the annotation's ids, so that
predictions can be written in the image's own pixels and ids (`datasets.item_info`).
`ImageFiles` reads any folder of images for `zoo predict`.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from tasks.data.common import (
    IGNORE_INDEX,
    BadItemError,
    crop_box,
    flip_pairs_from_names,
    image_to_input,
    inside_image,
    read_rgb,
    square_box,
)


class _CifarLayout(NamedTuple):
    """The files and pickle keys of one CIFAR variant, as in the official "python version" archives."""

    folder: str
    train_files: list[str]
    test_files: list[str]
    label_key: bytes
    meta_file: str
    names_key: bytes
    num_classes: int


_CIFAR = {
    "cifar-10": _CifarLayout(
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
        "batches.meta",
        b"label_names",
        10,
    ),
    "cifar-100": _CifarLayout(
        "cifar-100-python", ["train"], ["test"], b"fine_labels", "meta", b"fine_label_names", 100
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays, and refuses every other global: a pickle can name
    any function to call, so a CIFAR file from elsewhere must not run code (Python docs, pickle,
    "Restricting Globals")."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),  # arrays pickled by numpy 1 (the official archives)
        ("numpy._core.multiarray", "_reconstruct"),  # ... and by numpy 2
        ("numpy._core.numeric", "_frombuffer"),  # pickle protocol 5
        ("_codecs", "encode"),  # bytes in pickle protocol 2 written by Python 3
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}; a CIFAR file holds only numpy arrays, lists and bytes, and anything "
                "else could run code when unpickled, so it is refused. Use the official archives."
            )
        return super().find_class(module, name)


def _unpickle(path: Path, *keys: bytes) -> list:
    """The values of `keys` in the pickled dict at `path`, unpickling nothing but arrays and plain containers;
    any failure raises OSError naming the file."""
    try:
        with open(path, "rb") as file:
            content = _ArrayUnpickler(file, encoding="bytes").load()
        return [content[key] for key in keys]
    except Exception as error:  # unpickling garbage can raise almost anything
        raise OSError(f"cannot read CIFAR file {path} (need keys {list(keys)}): {error!r}") from error


class CifarPickles(Dataset):
    """CIFAR-10 or CIFAR-100 from the "python version" pickle folders.

    `root` is the folder holding the batches (cifar-10-batches-py, cifar-100-python) or its parent.
    The variant is detected from the files present: data_batch_1..5/test_batch (CIFAR-10, key
    b"labels") or train/test (CIFAR-100, fine labels). Class names come from batches.meta / meta.
    The pickles are read with a restricted unpickler (numpy arrays, lists, bytes only), so a file that would
    run code is refused. Item: (image 32x32x3 uint8, label int).
    """

    def __init__(self, root: str | Path, train: bool = True) -> None:
        self.root, self.variant = self._locate(Path(root))
        layout = _CIFAR[self.variant]
        images, labels = [], []
        for name in layout.train_files if train else layout.test_files:
            data, batch_labels = _unpickle(self.root / name, b"data", layout.label_key)
            images.append(np.asarray(data, np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(int(label) for label in batch_labels)
        self.images, self.labels = np.concatenate(images), labels
        meta = self.root / layout.meta_file
        names = _unpickle(meta, layout.names_key)[0] if meta.exists() else range(layout.num_classes)
        self.class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        self.num_classes = len(self.class_names)

    @staticmethod
    def _locate(root: Path) -> tuple[Path, str]:
        for variant, layout in _CIFAR.items():
            for folder in (root, root / layout.folder):
                if all((folder / name).is_file() for name in layout.train_files + layout.test_files):
                    return folder, variant
        expected = {variant: layout.train_files + layout.test_files for variant, layout in _CIFAR.items()}
        raise FileNotFoundError(
            f"no CIFAR pickles in {root} or its {[layout.folder for layout in _CIFAR.values()]} subfolders: "
            f"expected the files {expected}; "
            "point root at the extracted 'python version' archive"
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], self.labels[index]


class ImageFolderDataset(Dataset):
    """Classification images in class-per-subfolder trees (`root/<class>/<image>`), like torchvision.

    Classes are the sorted subfolder names. Item: (image HxWx3 uint8, label int).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.class_names, class_to_idx = find_classes(self.root)
        self.num_classes = len(self.class_names)
        self.samples = make_dataset(self.root, class_to_idx, extensions=IMG_EXTENSIONS)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[index]
        return read_rgb(path), label

    def info(self, index: int) -> dict:
        """The item's file, relative to root."""
        return {"name": Path(self.samples[index][0]).relative_to(self.root).as_posix()}


class MaskFolderDataset(Dataset):
    """Segmentation pairs `root/images/<stem>.jpg|png` + `root/masks/<stem>.png` (VOC style).

    Masks are single-channel PNGs whose values are class indices: palette ("P") masks are read as
    their indices, not their colours. 255 marks pixels to ignore. Class names are "0".."N-1".
    Item: (image HxWx3 uint8, mask HxW uint8).
    """

    image_suffixes = (".jpg", ".jpeg", ".png")

    def __init__(self, root: str | Path, num_classes: int) -> None:
        if not 1 <= num_classes <= IGNORE_INDEX:
            raise ValueError(f"num_classes must be in 1..{IGNORE_INDEX}, got {num_classes}")
        self.root, self.num_classes = Path(root), num_classes
        self.class_names = [str(i) for i in range(num_classes)]
        image_dir, mask_dir = self.root / "images", self.root / "masks"
        if not image_dir.is_dir() or not mask_dir.is_dir():
            raise FileNotFoundError(f"expected folders {image_dir} and {mask_dir} (images and their masks)")
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in self.image_suffixes)
        if not images:
            raise FileNotFoundError(f"no {'/'.join(self.image_suffixes)} images in {image_dir}")
        self.samples = [(image, mask_dir / f"{image.stem}.png") for image in images]
        missing = [str(mask) for _, mask in self.samples if not mask.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} images have no mask, e.g. {missing[:3]}; every image in {image_dir} needs "
                f"a PNG of the same name in {mask_dir}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self.samples[index]
        image, mask = read_rgb(image_path), self._read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {image_path} is "
                f"{image.shape[1]}x{image.shape[0]}; a mask must match its image pixel for pixel"
            )
        return image, mask

    def info(self, index: int) -> dict:
        """The item's image file, relative to root/images."""
        return {"name": self.samples[index][0].name}

    def _read_mask(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as mask:
                if mask.mode not in ("P", "L"):
                    raise ValueError(
                        f"mask {path} has mode {mask.mode!r}; masks must be palette ('P') or grayscale ('L') "
                        "PNGs whose values are class indices, not colours"
                    )
                values = np.asarray(mask, dtype=np.uint8)
        except (OSError, Image.DecompressionBombError) as error:
            raise OSError(f"cannot read mask {path}: {error}") from error
        bad = np.unique(values[(values >= self.num_classes) & (values != IGNORE_INDEX)])
        if bad.size:
            raise ValueError(
                f"mask {path} has value {int(bad[0])} (all bad values: {bad.tolist()}) but num_classes is "
                f"{self.num_classes}; set num_classes > {int(bad.max())} or mark those pixels {IGNORE_INDEX} "
                "(ignore)"
            )
        return values


class CocoKeypoints(Dataset):
    """Top-down person crops from a COCO keypoints annotation file.

    One item per person annotation with num_keypoints > 0 that is not a crowd and has a bbox. The bbox
    is made square around its centre, enlarged by `bbox_scale` and resized to `image_size`; parts
    outside the image are black. Keypoints are mapped into the crop; a keypoint with v = 0 (not
    labelled) or outside the crop gets visibility 0 and keeps its (unclamped) coordinates.
    `joint_names`, `skeleton` (0-based) and `flip_pairs` (left_*/right_* names) come from the one
    category that has keypoints. Item: (image S x S x 3 uint8, keypoints float32 (K, 2) xy pixels,
    visibility float32 (K,), {"image_id": int, "box": float64 (4,)}), the box being the crop's square
    (left, top, side, side) in the image's pixels, which maps predictions back (`common.input_to_image`).
    `groups` gives each item's image id, so that a subset can be drawn by image; `ground_truth` the
    annotations of some images, for COCO's evaluation. A malformed annotation (keypoints not 3 x K
    values, unknown image) raises `BadItemError` naming it, or with `skip_bad` is dropped with a warning
    and listed in `skipped`; a file without any usable annotation raises `BadItemError`.
    """

    def __init__(
        self,
        root: str | Path,
        ann_file: str | Path,
        image_size: int = 256,
        bbox_scale: float = 1.25,
        skip_bad: bool = False,
    ) -> None:
        if image_size < 1 or bbox_scale <= 0:
            raise ValueError(f"need image_size >= 1 and bbox_scale > 0, got {image_size} and {bbox_scale}")
        self.root, self.ann_file = Path(root), Path(ann_file)
        self.image_size, self.bbox_scale = image_size, bbox_scale
        coco = _read_json(self.ann_file)
        categories = [c for c in coco.get("categories", []) if c.get("keypoints")]
        if len(categories) != 1:
            raise ValueError(
                f"{ann_file} has {len(categories)} categories with keypoints, expected exactly one (e.g. person)"
            )
        category = categories[0]
        self.category_id = category["id"]
        self.joint_names: list[str] = list(category["keypoints"])
        self.num_joints = len(self.joint_names)
        self.skeleton = [(a - 1, b - 1) for a, b in category.get("skeleton", [])]
        self.flip_pairs = flip_pairs_from_names(self.joint_names)
        files = {image["id"]: image for image in coco.get("images", [])}
        self.skipped: list[str] = []
        """Why each malformed annotation was dropped (``skip_bad``)."""
        self.samples: list[_Person] = []
        for position, ann in enumerate(coco.get("annotations", [])):
            if not (
                ann.get("category_id") == self.category_id
                and ann.get("num_keypoints", 0) > 0
                and not ann.get("iscrowd", 0)
                and len(ann.get("bbox", [])) == 4
                and min(ann["bbox"][2:]) > 0
            ):
                continue
            try:
                self.samples.append(self._sample(ann, files))
            except BadItemError as error:
                reason = f"annotation {position} (id {ann.get('id')}) of {ann_file}: {error}"
                if not skip_bad:
                    raise BadItemError(f"{reason} (fix it, or skip bad items with --data.skip_bad true)") from None
                warnings.warn(f"skipping a bad item: {reason}", stacklevel=2)
                self.skipped.append(reason)
        if not self.samples:
            raise BadItemError(
                f"{ann_file} has no usable person annotation ({len(coco.get('annotations', []))} annotations, "
                f"{len(self.skipped)} malformed): it needs annotations of category {self.category_id} with "
                "num_keypoints > 0, iscrowd 0 and a bbox of positive size"
            )

    def _sample(self, ann: dict, files: dict) -> _Person:
        """An annotation's person; BadItemError says what is malformed."""
        if ann.get("image_id") not in files:
            raise BadItemError(f"image_id {ann.get('image_id')!r} is not in the file's images")
        keypoints = np.asarray(ann.get("keypoints", []), np.float32)
        if keypoints.shape != (3 * self.num_joints,):
            raise BadItemError(
                f"keypoints has {keypoints.size} values, expected 3 x {self.num_joints} joints = "
                f"{3 * self.num_joints} (x, y, v per joint)"
            )
        box = np.asarray(square_box(*ann["bbox"], scale=self.bbox_scale), np.float64)
        image = files[ann["image_id"]]
        size = (int(image.get("height", 0)), int(image.get("width", 0)))
        return _Person(image["file_name"], ann["image_id"], size, box, keypoints.reshape(-1, 3))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        person = self.samples[index]
        image = crop_box(read_rgb(self.root / person.file_name), person.box, self.image_size)
        size = (self.image_size, self.image_size)
        keypoints = image_to_input(person.joints[:, :2], person.box, size).astype(np.float32)
        visible = (person.joints[:, 2] > 0) & inside_image(keypoints, self.image_size, self.image_size)
        return image, keypoints, visible.astype(np.float32), {"image_id": person.image_id, "box": person.box}

    @property
    def groups(self) -> list[int]:
        """The image id of every item: the people of one image form a group."""
        return [person.image_id for person in self.samples]

    def info(self, index: int) -> dict:
        """The item's image file, its image and category ids, the image's size and the crop's box in it."""
        person = self.samples[index]
        return {
            "name": person.file_name,
            "image_id": person.image_id,
            "category_id": self.category_id,
            "box": person.box,
            "size": person.size,
        }

    def ground_truth(self, image_ids: set[int]) -> dict:
        """The annotation file cut down to ``image_ids`` and the keypoint category, for pycocotools.

        Every annotation of those images is kept, crowds and people without keypoints included, since
        COCO's evaluation uses them as regions to ignore. An annotation without ``area`` (COCO's
        segment area, the scale of OKS) gets its box's area; one without ``num_keypoints`` its count of
        labelled keypoints.
        """
        coco = _read_json(self.ann_file)
        annotations = [
            {
                **ann,
                "area": ann.get("area") or float(ann["bbox"][2] * ann["bbox"][3]),
                "num_keypoints": ann.get("num_keypoints", sum(v > 0 for v in ann.get("keypoints", [])[2::3])),
            }
            for ann in coco.get("annotations", [])
            if ann.get("image_id") in image_ids and ann.get("category_id") == self.category_id
        ]
        return {
            "images": [image for image in coco.get("images", []) if image["id"] in image_ids],
            "annotations": annotations,
            "categories": [c for c in coco["categories"] if c["id"] == self.category_id],
        }


class _Person(NamedTuple):
    """One person of a COCO file: image file, id and (H, W) (0 if the file does not say), crop box (left,
    top, side, side), (K, 3) keypoints."""

    file_name: str
    image_id: int
    size: tuple[int, int]
    box: np.ndarray
    joints: np.ndarray


def _read_json(path: Path) -> dict:
    """A JSON file's content; an unreadable or malformed file raises ValueError naming it."""
    try:
        with open(path) as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


class ImageFiles(Dataset):
    """Every image under a folder, searched recursively, in sorted order: what `zoo predict` predicts.

    Images of any size and aspect; ``crop_size`` (pose) makes each image square by padding it
    evenly with black, as `CocoKeypoints` pads a person's box, and resizes it to crop_size, so that a
    whole image is one top-down crop. Item: (image HxWx3 uint8,). ``info`` gives the file relative to
    the folder, the image's size and, with ``crop_size``, the square's box in the image.
    """

    def __init__(self, root: str | Path, crop_size: int | None = None) -> None:
        self.root, self.crop_size = Path(root), crop_size
        if not self.root.is_dir():
            raise FileNotFoundError(f"no folder {self.root} to predict: predict_root must be a folder of images")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
        if not self.files:
            raise FileNotFoundError(f"no images ({' '.join(IMG_EXTENSIONS)}) in {self.root} or its subfolders")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray]:
        image = read_rgb(self.files[index])
        if self.crop_size is None:
            return (image,)
        return (crop_box(image, self._box(image.shape[:2]), self.crop_size),)

    def _box(self, size: tuple[int, int]) -> np.ndarray:
        height, width = size
        return np.asarray(square_box(0, 0, width, height), np.float64)

    def info(self, index: int) -> dict:
        """The file relative to the folder; with crop_size, the image's size and the square's box."""
        info = {"name": self.files[index].relative_to(self.root).as_posix()}
        if self.crop_size is not None:
            with Image.open(self.files[index]) as image:  # reads the header only
                width, height = image.size
            info |= {"box": self._box((height, width)), "size": (height, width)}
        return info
