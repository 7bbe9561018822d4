"""archzoo's model side: the block library (`zoo.blocks`), the families (`zoo.models`), the heads
(`zoo.heads`), the registry of configurations (`zoo.registry`), `create_model` (`zoo.factory`) and
deployment (`zoo.export`, imported on first use). The models are also timm's, as ``archzoo_<name>``
(`zoo.timm_compat`), from the moment timm is imported."""

from typing import Any

from .factory import create_model, load_model
from .registry import TASKS, ModelSpec, get_spec, list_models
from .timm_compat import register_when_timm_loads

__all__ = ["TASKS", "ModelSpec", "create_model", "export_onnx", "get_spec", "list_models", "load_model"]

register_when_timm_loads()


def __getattr__(name: str) -> Any:
    if name == "export_onnx":
        from .export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
