"""Heads that turn any backbone's features into class logits, a segmentation map or heatmaps."""

from .classifier import Classifier
from .heatmap import HeatmapHead, HeatmapModel
from .unet import UNet, UNetDecoder, distinct_scales

__all__ = ["Classifier", "HeatmapHead", "HeatmapModel", "UNet", "UNetDecoder", "distinct_scales"]
