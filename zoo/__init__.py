"""archzoo's model side: the block library (`zoo.blocks`), the families (`zoo.models`), the heads
(`zoo.heads`), the registry of configurations (`zoo.registry`) and `create_model` (`zoo.factory`)."""

from .factory import create_model, load_model
from .registry import TASKS, ModelSpec, get_spec, list_models

__all__ = ["TASKS", "ModelSpec", "create_model", "get_spec", "list_models", "load_model"]
