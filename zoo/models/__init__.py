"""The four families, each a composition of `zoo.blocks`: ResNet, DenseNet, U-Net, stacked hourglass."""

from .base import Backbone, ClassifierBackbone, check_images, he_init
from .densenet import DenseNet
from .hourglass import StackedHourglass
from .resnet import ResNet
from .unet import UNet, UNetEncoder, nearest_valid_sizes, valid_output_size

__all__ = [
    "Backbone",
    "ClassifierBackbone",
    "DenseNet",
    "ResNet",
    "StackedHourglass",
    "UNet",
    "UNetEncoder",
    "check_images",
    "he_init",
    "nearest_valid_sizes",
    "valid_output_size",
]
