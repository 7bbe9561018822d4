"""The shared block library: every family in `zoo.models` is a composition of these."""

from .dense import DenseBlock, DenseLayer, Transition
from .hourglass import Hourglass, Residual
from .layers import ConvNormAct, DropPath, make_act, make_conv, make_norm, make_upconv
from .residual import BasicBlock, Bottleneck, ResidualBlock, ZeroPadShortcut
from .unet import DoubleConv, Down, Up, fit_to

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ConvNormAct",
    "DenseBlock",
    "DenseLayer",
    "DropPath",
    "DoubleConv",
    "Down",
    "Hourglass",
    "Residual",
    "ResidualBlock",
    "Transition",
    "Up",
    "ZeroPadShortcut",
    "fit_to",
    "make_act",
    "make_conv",
    "make_norm",
    "make_upconv",
]
