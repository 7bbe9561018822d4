"""Speed and memory measurements of a bench, in the manner of timm's benchmark.py: warm-up steps,
then the median of repeated timed steps, so a slow first call (allocation, compilation) or a
neighbour's burst on a shared machine does not count.

Peak memory is the allocator's peak on CUDA (``torch.cuda.max_memory_allocated``) and the process
resident set size on CPU, sampled by a background thread (`PeakRSS`), since the CPU allocator keeps
no peak of its own.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo.allocator import release_free_memory

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


@dataclass(frozen=True)
class Settings:
    """The switches of a bench (timm benchmark.py's): device, precision, memory format, compile, batch.

    Attributes:
        device: "cpu" or "cuda".
        precision: "32", "bf16-mixed" or "16-mixed" (autocast around forward and loss).
        channels_last: NHWC weights and inputs.
        compile: ``torch.compile`` the network.
        batch_size: overrides every cell's batch size when set.
    """

    device: str = "cpu"
    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device={self.device!r}: use 'cpu' or 'cuda'")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no CUDA device; use --device cpu")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.precision == "16-mixed" and self.device == "cpu":
            raise ValueError("precision='16-mixed' needs CUDA; on CPU use 'bf16-mixed'")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format of weights and inputs."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for mixed precision, or a no-op at fp32."""
        dtype = PRECISIONS[self.precision]
        return torch.autocast(self.device, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def prepare(self, net: nn.Module) -> nn.Module:
        """The network on the device, in the memory format, compiled if asked."""
        net = net.to(self.device, memory_format=self.memory_format)
        return torch.compile(net) if self.compile else net


def synchronize(device: str) -> None:
    """Wait for queued device work, so a timer measures it."""
    if device == "cuda":
        torch.cuda.synchronize()


def median_time(step: Callable[[], Any], warmup: int, repeats: int, device: str = "cpu") -> float:
    """Median seconds of ``step()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def inference_step(net: nn.Module, images: torch.Tensor, settings: Settings) -> Callable[[], Any]:
    """One forward pass in eval mode without gradients, as a callable for `median_time`."""

    def step() -> Any:
        with torch.inference_mode(), settings.autocast():
            return net(images)

    return step


def training_step(
    net: nn.Module,
    loss_fn: Callable[[Any], torch.Tensor],
    images: torch.Tensor,
    settings: Settings,
    optimizer: torch.optim.Optimizer | None = None,
) -> Callable[[], Any]:
    """One plain PyTorch training step (forward, ``loss_fn(output)``, backward, SGD step)."""
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with settings.autocast():
            loss = loss_fn(net(images))
        loss.backward()
        optimizer.step()

    return step


def throughput(
    net: nn.Module,
    images: torch.Tensor,
    loss_fn: Callable[[Any], torch.Tensor],
    settings: Settings,
    warmup: int,
    repeats: int,
) -> dict[str, float]:
    """Inference and training images/s of ``net`` on ``images``, and the peak memory (MB) of training.

    The network's training mode is restored afterwards; its weights change (it takes SGD steps).
    """
    batch = len(images)
    images = images.to(settings.device, memory_format=settings.memory_format)
    was_training = net.training
    net.eval()
    infer = median_time(inference_step(net, images, settings), warmup, repeats, settings.device)
    net.train()
    with PeakMemory(settings.device) as memory:
        train = median_time(training_step(net, loss_fn, images, settings), warmup, repeats, settings.device)
    net.train(was_training)
    return {"infer_ips": batch / infer, "train_ips": batch / train, "peak_mem_mb": memory.peak_mb}


def rss_bytes() -> int:
    """The process's resident set size now (Linux: /proc/self/statm; elsewhere its peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


class PeakRSS:
    """Context manager: the highest resident set size of this process while inside, sampled every
    ``interval`` seconds by a daemon thread (the CPU allocator keeps no peak of its own). ``start``
    is the RSS on entry, once the heap's free pages went back to the OS."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak, self.start = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        release_free_memory()  # what earlier work freed and the allocator kept is not this block's
        self.peak = self.start = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


class PeakMemory:
    """Peak memory in MB inside the block: the CUDA allocator's peak, or the process RSS on CPU."""

    def __init__(self, device: str) -> None:
        self.device, self.peak_mb = device, 0.0
        self._rss = PeakRSS() if device == "cpu" else None

    def __enter__(self) -> PeakMemory:
        if self._rss is not None:
            self._rss.__enter__()
        else:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rss is not None:
            self._rss.__exit__(*exc)
            self.peak_mb = self._rss.peak / 2**20
        else:
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20


def matmul_gflops(size: int = 2048, warmup: int = 2, repeats: int = 10, device: str = "cpu") -> float:
    """The machine's ceiling: GFLOP/s of a ``size`` x ``size`` fp32 matmul in this process."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = median_time(lambda: a @ b, warmup, repeats, device)
    return 2 * size**3 / seconds / 1e9
