"""LightningDataModules for the three tasks: ClassificationData, SegmentationData, PoseData.

They share one base, which declares and checks the common arguments, builds the sources and loaders
and seeds the augmentations; a subclass adds only its own arguments and says which sources its task
has and how to read them (LightningCLI follows ``**kwargs`` to the base's arguments and their help).
Arguments are plain types so that LightningCLI can configure them from YAML. The task metadata
(`num_classes`, `class_names`, `num_joints`, `flip_pairs`, `skeleton`, `in_chans`) is available right
after construction, so a task can be built from the data module: it comes from the training source,
which is read once and reused by `setup`.

Splits: synthetic sets draw validation items with a seed the training items never use (2*seed + 1
vs 2*seed), so they are held out. Real formats read their own split: CIFAR train/test pickles;
`root/train` and `root/val` for ImageFolder trees and image+mask folders; two annotation files
for COCO. The test loader uses the validation split; the predict loader too, unless ``predict_root``
names a folder of images, in which case the training data is not read at all: a model restored from
a checkpoint knows its classes or joints.

Every loader is a `sampling.ResumableLoader` (evaluation loaders read the items in order, by index, so
that predictions keep their data set index); the training order and augmentations are a function
of (seed, epoch, index), with the seed drawn from torch's RNG (so `seed_everything` fixes it) and
saved in checkpoints, so a fit resumed mid-epoch sees the batches the interrupted one would have.
With ``skip_bad``, damaged items are skipped with a warning and counted; `teardown` reports the
count per split at the end of a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import Dataset, Subset

from tasks.data.common import IGNORE_INDEX
from tasks.data.datasets import PredictItems, TaskDataset, collate_good, worker_init
from tasks.data.formats import CifarPickles, CocoKeypoints, ImageFiles, ImageFolderDataset, MaskFolderDataset
from tasks.data.sampling import EpochSampler, ResumableLoader
from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes
from tasks.data.transforms import DEFAULT_AUGMENT, PredictTransform, augment_parts, build_transforms

SYNTHETIC_SIZES = {True: 2000, False: 500}
"""Default number of synthetic (train, val) items."""
SPLITS = ("train", "val", "predict")


def draw_subset(length: int, size: int, rng: np.random.Generator, groups: Sequence[int] | None = None) -> list[int]:
    """``size`` random indices of ``range(length)``; with ``groups`` (a group id per index, e.g. COCO's
    image id per person), whole groups in random order until ``size`` indices are drawn (the last group
    whole, so a few more), so that no image is evaluated on only some of its people."""
    if groups is None:
        return rng.permutation(length)[:size].tolist()
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    keys = list(members)
    drawn: list[int] = []
    for position in rng.permutation(len(keys)):
        if len(drawn) >= size:
            break
        drawn.extend(members[keys[position]])
    return sorted(drawn)


class _TaskData(pl.LightningDataModule):
    """The shared data module: argument checks, cached sources, transforms and loaders.

    Subclasses set `task` and `sources` (the first is the default, "synthetic") and implement
    `_read(train)`, which returns the raw source of one split.

    Args:
        source: where the images come from (each task's data module lists its sources).
        root: dataset folder; required unless source is "synthetic".
        batch_size: images per batch.
        num_workers: DataLoader worker processes (0 = load in the main process).
        train_size: training items (synthetic default 2000; real data: a random subset, default all).
        val_size: validation items (synthetic default 500; real data: a random subset, default all; COCO
            draws whole images, so that every person of an evaluated image is predicted).
        seed: seed of the synthetic items and of real-data subsets.
        augment: the training augmentation: a level (``light``, the default; ``strong``, all of the task's
            parts; ``none``), true (= strong), false (= none), or the parts to use, separated by commas
            (`tasks.data.transforms.AUGMENT_PARTS`: crop, scale, rotate, flip, color). ``light`` is the
            random crop for classification and the colour jitter for segmentation and pose
            (`AUGMENT_LEVELS`; docs/ablation.md measures each part).
        skip_bad: skip damaged items (unreadable files, masks of the wrong size, malformed annotations)
            with a warning, and report their count at the end, instead of stopping with an error.
        predict_root: a folder of images, searched recursively, that `zoo predict` predicts instead of the
            validation split; the training data need not exist then (classes and joints come from the
            checkpoint).
    """

    task: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]
    in_chans = 3

    def __init__(
        self,
        *,
        image_size: int,
        source: str = "synthetic",
        root: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        train_size: int | None = None,
        val_size: int | None = None,
        seed: int = 0,
        augment: bool | str = DEFAULT_AUGMENT,
        skip_bad: bool = False,
        predict_root: str | None = None,
    ) -> None:
        super().__init__()
        if source not in self.sources:
            raise ValueError(
                f"source={source!r} is not valid for {type(self).__name__}; use one of {', '.join(self.sources)}"
            )
        if source != "synthetic" and root is None:
            raise ValueError(
                f"source={source!r} reads files from disk: set root to the dataset's folder (--data.init_args.root)"
            )
        for name, value, least in (
            ("image_size", image_size, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("train_size", train_size, 1),
            ("val_size", val_size, 1),
            ("seed", seed, 0),
        ):
            if value is not None and value < least:
                raise ValueError(f"{name} must be >= {least}, got {value}")
        augment_parts(self.task, augment)  # a wrong setting fails now, naming the valid ones
        self.save_hyperparameters()  # with the subclass's arguments, which Lightning collects from its frame
        self.source, self.root, self.image_size = source, root, image_size
        self.batch_size, self.num_workers, self.seed, self.augment = batch_size, num_workers, seed, augment
        self.skip_bad, self.predict_root = skip_bad, predict_root
        self.sizes = {True: train_size, False: val_size}
        self.stage: str | None = None
        self._sources: dict[bool, Dataset] = {}
        self._datasets: dict[str, TaskDataset] = {}
        # only the newest loader of each split is kept, so under reload_dataloaders_every_n_epochs an
        # old one and its persistent workers go once Lightning drops it; the new one starts from what
        # the old one skipped (Lightning builds it after the old one's last pass)
        self._loaders: dict[str, ResumableLoader | None] = dict.fromkeys(SPLITS)
        self._resume: dict[str, int] = {}

    def _read(self, train: bool) -> Dataset:
        raise NotImplementedError

    def _synthetic(self, cls: type[Dataset], train: bool) -> Dataset:
        length = self.sizes[train] or SYNTHETIC_SIZES[train]
        return cls(length, image_size=self.image_size, seed=2 * self.seed + (not train))

    def _path(self, *parts: str) -> Path:
        return Path(self.root, *parts)

    @property
    def predicting_folder(self) -> bool:
        """True while `zoo predict` reads ``predict_root``: then nothing is read from the training data."""
        return self.predict_root is not None and self.stage == "predict"

    def source_dataset(self, train: bool = True) -> Dataset:
        """The raw source of a split (numpy items, every item), read once."""
        if train not in self._sources:
            self._sources[train] = self._read(train)
        return self._sources[train]

    def dataset(self, train: bool = True) -> TaskDataset:
        """The split as the loaders see it: limited to train_size/val_size items, transformed."""
        split = "train" if train else "val"
        if split not in self._datasets:
            source, size = self.source_dataset(train), self.sizes[train]
            flip_pairs = getattr(source, "flip_pairs", None)  # pose only
            if size is not None and size < len(source):  # a seeded random subset of a real dataset
                rng = np.random.default_rng([self.seed, int(train)])
                source = Subset(source, draw_subset(len(source), size, rng, getattr(source, "groups", None)))
            transform = build_transforms(self.task, self.image_size, train, flip_pairs, self.augment)
            self._datasets[split] = TaskDataset(source, transform, self.skip_bad)
        return self._datasets[split]

    def predict_dataset(self) -> TaskDataset:
        """What `zoo predict` reads: ``(image, item_info)`` of every image under ``predict_root``, or of the
        validation split (`datasets.item_info` says what an info holds)."""
        if "predict" not in self._datasets:
            if self.predict_root is not None:
                source = ImageFiles(self.predict_root, crop_size=self.image_size if self.task == "pose" else None)
            else:
                source = self.dataset(train=False).source
            transform = PredictTransform(build_transforms(self.task, self.image_size, train=False))
            self._datasets["predict"] = TaskDataset(PredictItems(source), transform, self.skip_bad)
        return self._datasets["predict"]

    def setup(self, stage: str | None = None) -> None:
        """Read the splits that `stage` needs (training only for "fit"; only predict_root when predicting it)."""
        self.stage = stage
        if self.predicting_folder:
            self.predict_dataset()
            return
        if stage in (None, "fit"):
            self.dataset(train=True)
        self.dataset(train=False)

    def _loader(self, split: str, dataset: TaskDataset) -> ResumableLoader:
        train = split == "train"
        # training order and augmentations follow torch's seed (the same on every DDP rank), each rank
        # reading its share; evaluation reads the items in order, by index (Lightning shards it under DDP)
        sampler = None
        if train:
            seed = int(torch.randint(2**31, ()).item())
            trainer = self.trainer
            replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
            sampler = EpochSampler(len(dataset), seed, num_replicas=replicas, rank=rank)
        loader = ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_good,
            worker_init_fn=worker_init,
            persistent_workers=self.num_workers > 0,
            drop_last=train and len(dataset) > self.batch_size,  # no 1-item batch for BatchNorm
        )
        if train and self._resume:
            loader.load_state_dict(self._resume)
        previous = self._loaders[split]
        if previous is not None:  # each bad item is warned about once per run
            loader.skipped.update(previous.skipped)
        self._loaders[split] = loader
        return loader

    def state_dict(self) -> dict[str, dict[str, int]]:
        """The position of the latest training loader, saved in every checkpoint.

        Lightning also saves the loader's own state in the fit loop, but loads it only while it builds
        the loader, which a task that reads ``trainer.estimated_stepping_batches`` (the LR schedules)
        has made it do before the checkpoint's loops are restored. The data module's state is restored
        first, so the position is applied from here, to every training loader built afterwards.
        """
        latest = self._loaders["train"]
        return {"train_loader": latest.state_dict()} if latest is not None else {}

    def load_state_dict(self, state: dict[str, dict[str, int]]) -> None:
        """Resume the training loaders from a checkpoint's `state_dict`."""
        self._resume = dict(state.get("train_loader", {}))

    def skipped(self, split: str = "train") -> list[str]:
        """Why each bad item of a split ("train", "val" or "predict") was skipped (``skip_bad``): the
        entries the reader dropped when it was built, then the items the loaders skipped, each once."""
        reader = self._sources.get(split == "train") if split != "predict" else None
        latest = self._loaders[split]
        return list(getattr(reader, "skipped", [])) + list((latest.skipped if latest is not None else {}).values())

    def teardown(self, stage: str) -> None:
        """Report the bad items skipped in each split (``skip_bad``) at the end of a run."""
        for split, name in zip(SPLITS, ("training", "validation", "predict"), strict=True):
            skipped = self.skipped(split)
            if skipped:
                first = "; ".join(skipped[:3])
                rank_zero_warn(f"skip_bad: skipped {len(skipped)} bad items of the {name} split, e.g. {first}")

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled, augmented (if `augment`) training batches; drops a last incomplete batch."""
        return self._loader("train", self.dataset(train=True))

    def val_dataloader(self) -> ResumableLoader:
        """Validation batches in order, resized only."""
        return self._loader("val", self.dataset(train=False))

    def test_dataloader(self) -> ResumableLoader:
        """The validation split (there is no separate test split)."""
        return self._loader("val", self.dataset(train=False))

    def predict_dataloader(self) -> ResumableLoader:
        """``(images, infos)`` batches of `predict_dataset`, in order."""
        return self._loader("predict", self.predict_dataset())


class _ClassData(_TaskData):
    """A data module whose targets are class indices: exposes the source's classes."""

    @property
    def num_classes(self) -> int | None:
        """Number of classes (for segmentation: background included); None while predicting a folder
        unless given."""
        if self.predicting_folder:
            return self.hparams.get("num_classes")
        return self.source_dataset().num_classes

    @property
    def class_names(self) -> list[str] | None:
        """Class names, indexed by class id (None while predicting a folder)."""
        return None if self.predicting_folder else list(self.source_dataset().class_names)


class ClassificationData(_ClassData):
    """Classification batches `(image float32 Bx3xSxS, label int64 B)`.

    Sources: "synthetic" (SyntheticShapes, 10 classes), "cifar" (CIFAR-10/100 python pickles in
    root), "imagefolder" (root/train/<class>/* and root/val/<class>/*).

    Args:
        image_size: side of the square images fed to the model.
    """

    task = "classification"
    sources = ("synthetic", "cifar", "imagefolder")

    def __init__(self, *, image_size: int = 32, **kwargs: Any) -> None:
        super().__init__(image_size=image_size, **kwargs)

    def _read(self, train: bool) -> Dataset:
        if self.source == "synthetic":
            return self._synthetic(SyntheticShapes, train)
        if self.source == "cifar":
            return CifarPickles(self.root, train=train)
        return ImageFolderDataset(self._path("train" if train else "val"))


class SegmentationData(_ClassData):
    """Segmentation batches `(image float32 Bx3xSxS, mask int64 BxSxS)`, mask 255 = ignore.

    Sources: "synthetic" (SyntheticScenes: background + 5 shape classes), "maskfolder"
    (root/train/{images,masks} and root/val/{images,masks}, palette PNG masks; needs num_classes).

    Args:
        num_classes: number of classes including background; required for "maskfolder" (the CLI also
            takes it from --model.init_args.num_classes).
        image_size: side of the square images fed to the model (images are resized, not cropped).
    """

    task = "segmentation"
    sources = ("synthetic", "maskfolder")
    ignore_index = IGNORE_INDEX

    def __init__(self, *, num_classes: int | None = None, image_size: int = 64, **kwargs: Any) -> None:
        super().__init__(image_size=image_size, **kwargs)
        if self.source == "maskfolder" and num_classes is None:
            raise ValueError(
                "source='maskfolder' needs the number of classes in the masks, background included: set "
                "--data.init_args.num_classes N (or --model.init_args.num_classes N; one of them is enough)"
            )
        self._num_classes = num_classes

    def _read(self, train: bool) -> Dataset:
        if self.source == "maskfolder":
            return MaskFolderDataset(self._path("train" if train else "val"), self._num_classes)
        if self._num_classes not in (None, SyntheticScenes.num_classes):
            raise ValueError(
                f"num_classes={self._num_classes} but the synthetic scenes have {SyntheticScenes.num_classes} "
                "classes; leave --data.init_args.num_classes and --model.init_args.num_classes unset for "
                "source='synthetic'"
            )
        return self._synthetic(SyntheticScenes, train)


class PoseData(_TaskData):
    """Pose batches `(image float32 Bx3xSxS, {"keypoints": float32 BxKx2, "visibility": float32 BxK})`.

    Keypoints are xy in input pixels; visibility 0 marks joints that are unlabelled, occluded or off
    the image. Sources: "synthetic" (SyntheticFigures, 15 joints), "coco" (COCO keypoints JSON,
    top-down person crops; paths relative to root, defaults for COCO 2017). COCO targets also hold
    each person's ``image_id`` and crop ``box``, from which validation computes COCO's OKS AP.

    Args:
        image_size: side of the square images (person crops) fed to the model.
        ann_file: COCO training annotations, relative to root.
        val_ann_file: COCO validation annotations, relative to root.
        image_dir: folder of the training images, relative to root.
        val_image_dir: folder of the validation images, relative to root.
        oks_sigmas: the per-joint OKS constants of COCO's keypoint AP; None: COCO's 17 person keypoints
            have theirs (pycocotools), other joint sets are scored by PCK only.
    """

    task = "pose"
    sources = ("synthetic", "coco")

    def __init__(
        self,
        *,
        image_size: int = 64,
        ann_file: str = "annotations/person_keypoints_train2017.json",
        val_ann_file: str = "annotations/person_keypoints_val2017.json",
        image_dir: str = "train2017",
        val_image_dir: str = "val2017",
        oks_sigmas: list[float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_size=image_size, **kwargs)
        self._coco = {True: (ann_file, image_dir), False: (val_ann_file, val_image_dir)}
        self.oks_sigmas = oks_sigmas

    def _read(self, train: bool) -> Dataset:
        if self.source == "synthetic":
            return self._synthetic(SyntheticFigures, train)
        ann_file, image_dir = self._coco[train]
        return CocoKeypoints(self._path(image_dir), self._path(ann_file), self.image_size, skip_bad=self.skip_bad)

    def _metadata(self, name: str) -> Any:
        return None if self.predicting_folder else getattr(self.source_dataset(), name)

    @property
    def num_joints(self) -> int | None:
        """Number of joints K (None while predicting a folder)."""
        return self._metadata("num_joints")

    @property
    def joint_names(self) -> list[str] | None:
        """Joint names, indexed by joint id."""
        names = self._metadata("joint_names")
        return None if names is None else list(names)

    @property
    def flip_pairs(self) -> list[tuple[int, int]] | None:
        """(left, right) joint index pairs that a horizontal flip swaps."""
        pairs = self._metadata("flip_pairs")
        return None if pairs is None else list(pairs)

    @property
    def skeleton(self) -> list[tuple[int, int]] | None:
        """Joint index pairs joined by a limb, for drawing."""
        limbs = self._metadata("skeleton")
        return None if limbs is None else list(limbs)

    def coco_ground_truth(self) -> dict | None:
        """For a COCO source: the validation annotations of the images in the validation subset, the
        ground truth of COCO's keypoint evaluation; None otherwise."""
        if self.source != "coco" or self.predicting_folder:
            return None
        split = self.dataset(train=False).source
        reader = split.dataset if isinstance(split, Subset) else split
        images = {reader.groups[i] for i in (split.indices if isinstance(split, Subset) else range(len(reader)))}
        return reader.ground_truth(images)
