"""What every backbone shares: input validation, `feature_info`, and timm's model API: multi-scale
features (`forward_intermediates`, `prune_intermediate_layers`, `set_grad_checkpointing`) and the
classification head (`forward_features`, `forward_head`, `reset_classifier`, ``global_pool``)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class SizeRule:
    """The input sides a network takes: ``step * k + offset`` for whole k, and at least ``minimum``.

    ResNet and DenseNet take any side; a stacked hourglass of depth d multiples of 4 * 2**d; a
    valid-padding U-Net of depth d the sides whose every level stays even (16k + 12, from 188, at
    depth 4). Exports declare these sizes as their dynamic height and width.
    """

    step: int = 1
    offset: int = 0
    minimum: int = 1

    def accepts(self, side: int) -> bool:
        return side >= self.minimum and (side - self.offset) % self.step == 0

    def nearest(self, side: int) -> tuple[int | None, int]:
        """The accepted sides closest to ``side`` at or below it (None if none) and above it."""
        below = self.offset + (side - self.offset) // self.step * self.step
        above = below + self.step
        return (below if below >= self.minimum else None), max(above, self.minimum)

    def describe(self) -> str:
        if self.step == 1:
            return f"any size from {self.minimum}"
        if self.offset == 0:
            return f"multiples of {self.step} from {self.minimum}"
        return f"{self.step}k + {self.offset}, from {self.minimum}"

    def units(self, side: int) -> int:
        """k of an accepted side."""
        return (side - self.offset) // self.step

    def smallest_units(self) -> int:
        return math.ceil((self.minimum - self.offset) / self.step)


def check_images(x: torch.Tensor, in_chans: int, model: str, divisor: int = 1) -> None:
    """Raise a ValueError naming the problem and the fix when ``x`` is not a (B, in_chans, H, W)
    batch whose sides are multiples of ``divisor``. Runs before any computation; not while
    ``torch.compile`` or ``torch.export`` traces the model, where a check on the input's size would
    become a guard (an export then declares the accepted sizes itself, `Backbone.input_sizes`)."""
    if torch.compiler.is_compiling():
        return
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{model} expects a batch of images shaped (B, C, H, W); got {shape}. "
            "Add a batch dimension with x.unsqueeze(0) for a single image."
        )
    if x.shape[1] != in_chans:
        raise ValueError(
            f"{model} was built for {in_chans} input channels but got {x.shape[1]} "
            f"(input shape {tuple(x.shape)}). Build it with in_chans={x.shape[1]} "
            f"(create_model(..., in_chans={x.shape[1]})) or convert the images."
        )
    h, w = x.shape[-2:]
    if divisor > 1 and (h % divisor or w % divisor):
        fix = tuple(max(divisor, round(s / divisor) * divisor) for s in (h, w))
        raise ValueError(
            f"{model} needs height and width divisible by {divisor}; got {h}x{w}. "
            f"Resize or pad the input to e.g. {fix[0]}x{fix[1]}."
        )


def he_init(module: nn.Module, mode: str = "fan_in") -> None:
    """He et al. 2015 ("Delving Deep into Rectifiers") normal init for every conv, unit weight and
    zero bias for every norm: the initialisation torchvision uses for ResNet and DenseNet."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def take_indices(feature_info: list[dict], indices: int | Sequence[int] | None, model: str) -> tuple[list[int], int]:
    """timm's `feature_take_indices` over a backbone's ``feature_info`` (None: all maps; an int n: the
    last n; a sequence: those maps, negative from the end), with a ValueError naming the valid choices
    instead of timm's bare assertion. Returns the absolute indices and the largest.

    None, the default of every forward pass, needs no timm: importing timm takes seconds (it imports all
    of its models), which only the callers of timm's features pay."""
    count = len(feature_info)
    if count == 0:
        raise ValueError(f"{model} has no feature stages (empty feature_info), so it has no feature maps to take.")
    if indices is None:
        return list(range(count)), count - 1
    from timm.models._features import feature_take_indices

    try:
        return feature_take_indices(count, indices if isinstance(indices, int) else list(indices))
    except AssertionError as err:
        raise ValueError(
            f"{model} has {count} feature maps (feature_info), so indices/out_indices={indices!r} is out of range "
            f"({err}). Use an int from 1 to {count} for the last n maps, or indices from 0 to {count - 1} "
            f"(negative from the end, -{count} to -1)."
        ) from err


def make_pool(pool_type: str) -> tuple[nn.Module, int]:
    """timm's global pooling of type ``pool_type`` ("avg", "max", "avgmax", "catavgmax", "" for none),
    flattened, and the factor it multiplies the channels by. timm's ``SelectAdaptivePool2d`` makes the
    pools other than the default average, built here so that building a model does not import timm."""
    if pool_type == "avg":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)), 1
    if pool_type == "":
        return nn.Identity(), 1
    from timm.layers import SelectAdaptivePool2d

    pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=True)
    return pool, pool.feat_mult()


class Backbone(nn.Module):
    """A network that yields one feature map per entry of ``feature_info`` (timm's convention:
    ``num_chs``, ``reduction`` and ``module`` per stage), so any head can sit on any family, with
    timm's feature API (https://huggingface.co/docs/timm/feature_extraction): `forward_intermediates`,
    `prune_intermediate_layers` and `set_grad_checkpointing`.

    A family implements `_stages`, the generator of its feature maps, and `_prune_stages`. The deepest
    map already includes the family's final norm (a pre-activation ResNet's and a DenseNet's BN-ReLU,
    as its ``feature_info`` entry says), so timm's ``norm`` and ``prune_norm`` switches change nothing.
    """

    in_chans: int
    feature_info: list[dict]
    grad_checkpointing: bool = False
    headless: ClassVar[dict] = {}
    """The arguments that build the backbone without a task head (for a head to sit on it)."""

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_chans, type(self).__name__)

    def input_sizes(self) -> SizeRule:
        """The input sides the network takes (any, by default)."""
        return SizeRule()

    def output_layers(self) -> tuple[str, ...]:
        """The modules whose shape follows the number of outputs (timm's ``pretrained_cfg["classifier"]``):
        weights for another number of outputs leave them freshly initialised. None by default."""
        return ()

    def _stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """Yield the feature map of each ``feature_info`` entry, shallow to deep (input already checked)."""
        raise NotImplementedError

    def _prune_stages(self, last: int) -> None:
        """Remove the layers that only feature maps after ``last`` need."""
        raise NotImplementedError

    def _stage(self, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
        """``fn(*args)``, recomputed in the backward pass instead of stored while gradient checkpointing
        is on (one checkpoint per stage, as timm's ``set_grad_checkpointing``)."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's ``forward_intermediates``: the feature maps ``indices`` selects (None: all; an int n: the
        last n; a sequence: those indices of ``feature_info``, negative from the end), shallow to deep.

        Returns ``(final, intermediates)``, final being the deepest map computed (`forward_features`
        unless ``stop_early`` ends the pass at the last map asked for), or only the list with
        ``intermediates_only=True``. ``norm`` is accepted for timm's signature (see the class).
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt={output_fmt!r} is not supported: archzoo's feature maps are 'NCHW'.")
        take, last = take_indices(self.feature_info, indices, type(self).__name__)
        self.check_input(x)
        intermediates = []
        for i, final in enumerate(self._stages(x)):
            if i in take:
                intermediates.append(final)
            if stop_early and i == last:
                break
        return intermediates if intermediates_only else (final, intermediates)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """timm's ``prune_intermediate_layers``: drop the layers after the deepest map ``indices`` selects
        (and its ``feature_info`` entries), and the classifier with ``prune_head``; returns the absolute
        indices kept, for `forward_intermediates`. ``prune_norm`` is accepted for timm's signature."""
        take, last = take_indices(self.feature_info, indices, type(self).__name__)
        self._prune_stages(last)
        del self.feature_info[last + 1 :]
        if prune_head:
            self._prune_head()
        return take

    def _prune_head(self) -> None:
        """Remove the classifier, if the backbone has one that nothing else uses."""

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Checkpoint every stage (here and in the backbone a head sits on): activations are recomputed
        in the backward pass instead of kept, trading compute for memory."""
        for module in self.modules():
            if isinstance(module, Backbone):
                module.grad_checkpointing = enable

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map (the others are not kept)."""
        self.check_input(x)
        return deque(self._stages(x), maxlen=1)[0]

    @property
    def num_features(self) -> int:
        return self.feature_info[-1]["num_chs"]


class HeadOnBackbone(Backbone):
    """A task head on another backbone (``trunk_name`` names its attribute): the feature maps, their
    ``feature_info``, the input check and the input sizes are the backbone's."""

    trunk_name = "backbone"

    @property
    def trunk(self) -> Backbone:
        return getattr(self, self.trunk_name)

    @property
    def in_chans(self) -> int:
        return self.trunk.in_chans

    @property
    def feature_info(self) -> list[dict]:
        return self.trunk.feature_info

    def check_input(self, x: torch.Tensor) -> None:
        self.trunk.check_input(x)

    def input_sizes(self) -> SizeRule:
        return self.trunk.input_sizes()

    def _stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return self.trunk._stages(x)

    def _prune_stages(self, last: int) -> None:
        self.trunk._prune_stages(last)


class ClassifierBackbone(Backbone):
    """A backbone with global pooling (`make_pool`: timm's pool types, "avg" by default), dropout and a
    linear classifier, as timm's ``create_classifier``. The classifier's attribute name is configurable
    so torchvision's key names (``fc``, ``classifier``) hold."""

    classifier_name = "fc"
    headless: ClassVar[dict] = {"num_classes": 0}

    def _init_classifier(self, num_classes: int, drop_rate: float = 0.0, global_pool: str = "avg") -> None:
        self.drop_rate = drop_rate
        self.reset_classifier(num_classes, global_pool)

    def output_layers(self) -> tuple[str, ...]:
        return (self.classifier_name,)

    def _prune_head(self) -> None:
        self.reset_classifier(0, "")

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.classifier_name)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs (0: no classifier), and the
        pooling by ``global_pool`` when given (timm's signature)."""
        pool_type = self.pool_type if global_pool is None else global_pool
        if pool_type == "" and num_classes > 0:
            raise ValueError(
                f"global_pool='' (no pooling) needs num_classes=0: a linear classifier takes pooled features. "
                f"Use global_pool='avg' or 'max', or num_classes=0, not {num_classes}."
            )
        self.num_classes, self.pool_type = num_classes, pool_type
        self.global_pool, multiplier = make_pool(pool_type)
        head = nn.Linear(self.num_features * multiplier, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(head, nn.Linear):
            nn.init.zeros_(head.bias)
        setattr(self, self.classifier_name, head)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
