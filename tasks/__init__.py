"""archzoo's training side: the tasks (LightningModules), their data, metrics and the `zoo` CLI.

The task classes are imported on first use (PEP 562), so that ``zoo models``, ``zoo configs`` and
other commands that need no Lightning start without importing it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ZooTask": "tasks.base",
    "ClassificationTask": "tasks.classification",
    "SegmentationTask": "tasks.segmentation",
    "PoseTask": "tasks.pose",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
