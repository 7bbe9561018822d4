"""The four families, each a composition of `zoo.blocks`: ResNet, DenseNet, U-Net, stacked hourglass.

Importing a family's module registers its configurations (`zoo.registry`). The four are imported in
the order `zoo.list_models()` lists them; any other module of this package is a family too and is
imported after them, so a new family needs no line here.
"""

import importlib
import pkgutil

# isort: off
from .base import Backbone, ClassifierBackbone, SizeRule, check_images, he_init
from .resnet import ResNet
from .densenet import DenseNet
from .unet import UNetEncoder, nearest_valid_sizes, valid_output_size
from .hourglass import StackedHourglass

# isort: on

for _family in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_family.name}")
del _family

__all__ = [
    "Backbone",
    "ClassifierBackbone",
    "DenseNet",
    "ResNet",
    "SizeRule",
    "StackedHourglass",
    "UNetEncoder",
    "check_images",
    "he_init",
    "nearest_valid_sizes",
    "valid_output_size",
]
