"""Model size and cost: parameters, and FLOPs from `torch.utils.flop_counter` (which counts a
multiply-add as 2 FLOPs, so GFLOPs here are twice the GMACs that timm and torchvision list)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, input_size: tuple[int, int, int], batch_size: int = 1) -> float:
    """GFLOPs of one forward pass per image at ``input_size`` (C, H, W). A model on the meta
    device is counted without computing anything."""
    device = next(model.parameters()).device
    x = torch.zeros(batch_size, *input_size, device=device)
    counter = FlopCounterMode(display=False)
    was_training = model.training
    with counter, torch.no_grad():
        model.eval()(x)
    model.train(was_training)
    return counter.get_total_flops() / 1e9 / batch_size
