"""Heads that turn any backbone's features into class logits, a segmentation map or heatmaps."""

from .classifier import Classifier
from .decoder import UNetDecoder, distinct_scales
from .heatmap import HeatmapHead, HeatmapModel

__all__ = ["Classifier", "HeatmapHead", "HeatmapModel", "UNetDecoder", "distinct_scales"]
