"""archzoo's models in timm's registry, as ``archzoo_<name>``: ``timm.create_model("archzoo_resnet20",
num_classes=10)``, ``timm.list_models("archzoo_*")``, and every tool that builds models by timm name
(segmentation_models_pytorch's ``tu-`` encoders, timm's training scripts).

Each entry point is registered with timm's ``register_model``
(https://huggingface.co/docs/timm/reference/models) and calls `zoo.create_model`, so timm's options
(``pretrained``, ``pretrained_cfg_overlay``, ``features_only``, ``out_indices``, ``global_pool``) mean
what they mean there. The names come from archzoo's registry through `zoo.registry.on_register`: one
entry per registered name, including those registered after the first timm import. The prefix keeps
them apart from timm's own names; a name timm already has is refused, never overwritten.

Importing timm takes seconds (it imports all of timm's models), so ``import zoo`` does not: it
registers at once when timm is already imported, and otherwise when timm's import completes
(`register_when_timm_loads`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from torch import nn

from .registry import ModelSpec, on_register

__all__ = ["PREFIX", "register_in_timm", "register_when_timm_loads", "timm_name"]

PREFIX = "archzoo_"
_registered = False


def timm_name(name: str) -> str:
    """The timm name of the archzoo model ``name``."""
    return PREFIX + name


def _entrypoint(name: str, spec: ModelSpec) -> Callable[..., nn.Module]:
    def entrypoint(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: dict | None = None,
        cache_dir: str | None = None,  # noqa: ARG001  (timm's argument; archzoo downloads nothing)
        **kwargs: Any,
    ) -> nn.Module:
        if pretrained_cfg is not None:
            raise ValueError(
                f"{timm_name(name)} has no pretrained tags or configurations to choose; pass "
                "pretrained=True, pretrained_cfg_overlay=dict(file=PATH) to load a local weights file."
            )
        from .factory import create_model

        return create_model(name, pretrained=pretrained, pretrained_cfg_overlay=pretrained_cfg_overlay, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = timm_name(name)
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"archzoo's {name} ({spec.paper}), built by zoo.create_model."
    return entrypoint


def _register(name: str, spec: ModelSpec) -> None:
    from timm.models import is_model, register_model

    entrypoint = _entrypoint(name, spec)
    if is_model(entrypoint.__name__):
        raise ValueError(
            f"timm already has a model called {entrypoint.__name__}; archzoo's {name} would replace it. "
            "Rename one of them."
        )
    setattr(sys.modules[__name__], entrypoint.__name__, entrypoint)  # timm lists it in this module's __all__
    register_model(entrypoint)


def register_in_timm() -> None:
    """Register every archzoo model in timm's registry as ``archzoo_<name>`` (once; imports timm)."""
    global _registered
    if not _registered:
        _registered = True
        on_register(_register)


class _RegisterAfterTimmImport(importlib.abc.MetaPathFinder):
    """Finds timm as the other finders do, and makes its module run `register_in_timm` once loaded."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module: ModuleType) -> None:
                exec_module(module)
                register_in_timm()

            spec.loader.exec_module = exec_then_register
        return spec


def register_when_timm_loads() -> None:
    """`register_in_timm` now if timm is imported, else as soon as it is."""
    if "timm" in sys.modules:
        register_in_timm()
    elif not any(isinstance(finder, _RegisterAfterTimmImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterTimmImport())
