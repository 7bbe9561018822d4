"""Data for the zoo's tasks: synthetic sets (the default), real-format readers, transforms, data modules.

`modules` holds the LightningDataModules the CLI configures; the rest are their parts and can be
used on their own. Items flow: source (numpy) -> TaskTransform (albumentations, tensors) -> loader.
"""

from tasks.data.common import IGNORE_INDEX, flip_pairs_from_names
from tasks.data.datasets import TaskDataset, seed_worker
from tasks.data.formats import CifarPickles, CocoKeypoints, ImageFolderDataset, MaskFolderDataset
from tasks.data.modules import ClassificationData, PoseData, SegmentationData
from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes
from tasks.data.transforms import TASKS, TaskTransform, build_transforms

__all__ = [
    "IGNORE_INDEX",
    "TASKS",
    "CifarPickles",
    "ClassificationData",
    "CocoKeypoints",
    "ImageFolderDataset",
    "MaskFolderDataset",
    "PoseData",
    "SegmentationData",
    "SyntheticFigures",
    "SyntheticScenes",
    "SyntheticShapes",
    "TaskDataset",
    "TaskTransform",
    "build_transforms",
    "flip_pairs_from_names",
    "seed_worker",
]
