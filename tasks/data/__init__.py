"""Data for the zoo's tasks: synthetic sets (the default), real-format readers, transforms, data modules.

`modules` holds the LightningDataModules the CLI configures; the rest are their parts and can be
used on their own. Items flow: source (numpy) -> TaskTransform (albumentations, tensors) -> loader.
"""

from tasks.data.common import IGNORE_INDEX, BadItemError, flip_pairs_from_names
from tasks.data.datasets import BadItem, TaskDataset, collate_good, worker_init
from tasks.data.formats import CifarPickles, CocoKeypoints, ImageFolderDataset, MaskFolderDataset
from tasks.data.modules import ClassificationData, PoseData, SegmentationData
from tasks.data.sampling import EpochSampler, ItemKey, ResumableLoader
from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes
from tasks.data.transforms import TaskTransform, build_transforms

__all__ = [
    "IGNORE_INDEX",
    "BadItem",
    "BadItemError",
    "CifarPickles",
    "ClassificationData",
    "EpochSampler",
    "CocoKeypoints",
    "ImageFolderDataset",
    "ItemKey",
    "MaskFolderDataset",
    "PoseData",
    "ResumableLoader",
    "SegmentationData",
    "SyntheticFigures",
    "SyntheticScenes",
    "SyntheticShapes",
    "TaskDataset",
    "TaskTransform",
    "build_transforms",
    "collate_good",
    "flip_pairs_from_names",
    "worker_init",
]
