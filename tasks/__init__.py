"""archzoo's training side: the tasks (LightningModules), their data, metrics and the `zoo` CLI."""

from .base import ZooTask
from .classification import ClassificationTask
from .pose import PoseTask
from .segmentation import SegmentationTask

__all__ = ["ClassificationTask", "PoseTask", "SegmentationTask", "ZooTask"]
