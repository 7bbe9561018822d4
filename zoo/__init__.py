"""archzoo's model side: the block library (`zoo.blocks`), the families (`zoo.models`), the heads
(`zoo.heads`) and the registry (`create_model`, `list_models`)."""

from .registry import TASKS, ModelSpec, create_model, get_spec, list_models, load_model

__all__ = ["TASKS", "ModelSpec", "create_model", "get_spec", "list_models", "load_model"]
