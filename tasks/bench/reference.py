"""`zoo bench --reference`: the zoo's speed against torchvision and timm, side by side.

Every comparison runs both implementations in this process, on the same input and settings, in
turns whose order swaps every time (zoo, reference, reference, zoo...): each turn gives a ratio, and
the table shows the median, so a neighbour's burst on a shared machine hits both sides alike. The
model comparisons take turns step by step (`interleaved`); the memory and Lightning checks round by
round. The process keeps freed memory (`zoo.allocator`), as the `zoo` command does. The checks and
their targets (issue 5):

- eager inference and training images/s, zoo/torchvision (and zoo/timm where timm has the model),
  each >= 1.00; the zoo loads the reference's state dict first, so both are the same network;
- densenet121 inference on the zoo's fast path (channels_last, ``--compile`` when asked) against
  torchvision eager, >= 1.30;
- densenet121 training with ``memory_efficient=True`` against the default: peak memory <= 0.60x and
  throughput >= 0.75x (each measured in a fresh process, so the allocator's cache of one cannot
  hide the other's peak);
- Lightning overhead: the task's training step inside a `pl.Trainer` against a plain PyTorch loop
  on the same model and batch, >= 0.95;
- data: the synthetic pipeline with augmentation at 2 workers delivers >= 3x the images/s resnet20
  trains at.

It also measures the machine's ceiling (GFLOP/s of a large fp32 matmul here) and reports each
model's achieved GFLOP/s as a fraction of it (training counted as 3x the forward FLOPs).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

import zoo
from tasks.bench.cell import quiet_lightning
from tasks.bench.measure import (
    PeakRSS,
    Settings,
    inference_step,
    matmul_gflops,
    median_time,
    training_step,
)
from tasks.trainers import quiet_trainer
from zoo.allocator import keep_freed_memory
from zoo.measure import count_gflops
from zoo.summary import markdown


@dataclass(frozen=True)
class ReferenceConfig:
    """What `run_reference` measures.

    Attributes:
        models: zoo names compared with torchvision/timm models of the same name.
        batch_size / image_size: the input of the model comparisons.
        warmup / repeats: untimed and timed steps of each measurement (the median is kept).
        rounds: alternating zoo/reference rounds; the table shows the median ratio. The model
            comparisons instead time ``rounds * repeats`` single steps in turns (`interleaved`), and
            the Lightning check times ``3 * repeats`` steps a side.
        channels_last_fast_path / compile_fast_path: the zoo's densenet fast path.
        small_model / small_image_size / small_batch_size: the Lightning-overhead and data checks,
            at the quick bench's scale (resnet20 on 32-px shapes).
        num_workers: data loader workers of the data check.
        skip: sections to leave out: "timm", "fast", "memory", "lightning", "data".
    """

    models: tuple[str, ...] = ("resnet18", "resnet50", "densenet121")
    batch_size: int = 8
    image_size: int = 224
    warmup: int = 2
    repeats: int = 7
    rounds: int = 3
    channels_last_fast_path: bool = True
    compile_fast_path: bool = False
    small_model: str = "resnet20"
    small_image_size: int = 32
    small_batch_size: int = 32
    num_workers: int = 2
    skip: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class Check:
    """One row of the ratio table."""

    name: str
    zoo: float
    reference: float
    unit: str
    ratio: float
    target: str
    met: bool

    def row(self) -> list[str]:
        """The row's Markdown cells."""
        return [
            self.name,
            f"{self.zoo:.1f} {self.unit}",
            f"{self.reference:.1f} {self.unit}",
            f"{self.ratio:.3f}",
            self.target,
            "yes" if self.met else "**no**",
        ]


def _meets(ratio: float, target: str) -> bool:
    op, value = target.split()
    return ratio >= float(value) if op == ">=" else ratio <= float(value)


def reference_models(name: str) -> dict[str, Callable[[], nn.Module]]:
    """Builders of the torchvision and timm models called ``name`` (either may be missing)."""
    import timm
    import torchvision

    refs: dict[str, Callable[[], nn.Module]] = {}
    if name in torchvision.models.list_models(module=torchvision.models):
        refs["torchvision"] = lambda: torchvision.models.get_model(name, weights=None)
    if timm.is_model(name):
        refs["timm"] = lambda: timm.create_model(name, pretrained=False)
    return refs


def load_reference_weights(net: nn.Module, reference: nn.Module) -> bool:
    """Load the reference's weights into the zoo model when the keys match (torchvision's do)."""
    try:
        net.load_state_dict(reference.state_dict(), strict=True)
    except RuntimeError:
        return False
    return True


def classification_loss(output: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against fixed labels (0, 1, 2...): a real loss for timing a training step."""
    target = torch.arange(len(output), device=output.device) % output.shape[1]
    return F.cross_entropy(output, target)


def alternate(measure: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each measurement once per round for ``rounds`` rounds, in the dict's order in even
    rounds and in reverse in odd ones, so running first or second favours no side."""
    results: dict[str, list[float]] = {k: [] for k in measure}
    for i in range(rounds):
        for key in list(measure)[:: 1 if i % 2 == 0 else -1]:
            results[key].append(measure[key]())
    return results


def interleaved(
    steps: dict[str, Callable[[], Any]], batch_size: int, config: ReferenceConfig
) -> dict[str, list[float]]:
    """Images/s of each step, timed one call at a time in turns: ``config.warmup`` untimed calls
    each, then ``config.rounds * config.repeats`` turns whose order swaps every time. The sides of a
    turn run one right after the other, so a neighbour's burst on a shared machine lands on both.
    On two identical torchvision densenet121s this gives a median ratio within 1% of 1
    (``benchmarks/noise_floor.py``); timing 7-step medians round by round gave 0.90-1.14 per round."""
    for step in steps.values():
        for _ in range(config.warmup):
            step()
    timers = {key: (lambda step=step: batch_size / median_time(step, 0, 1)) for key, step in steps.items()}
    return alternate(timers, config.rounds * config.repeats)


def _ratio_check(name: str, zoo_values: list[float], ref_values: list[float], unit: str, target: str) -> Check:
    ratio = statistics.median(z / r for z, r in zip(zoo_values, ref_values, strict=True))
    zoo_v, ref_v = statistics.median(zoo_values), statistics.median(ref_values)
    return Check(name, zoo_v, ref_v, unit, ratio, target, _meets(ratio, target))


def compare_models(config: ReferenceConfig, ceiling: float, console: Console) -> tuple[list[Check], list[list[str]]]:
    """Eager zoo vs torchvision/timm inference and training images/s for each model, and the
    achieved GFLOP/s rows."""
    settings, b, s = Settings(), config.batch_size, config.image_size
    images = torch.randn(b, 3, s, s)
    checks, flops_rows = [], []
    for name in config.models:
        refs = {k: v for k, v in reference_models(name).items() if k not in config.skip}
        nets = {"zoo": zoo.create_model(name)}
        nets.update({k: build() for k, build in refs.items()})
        for key in refs:
            if key == "torchvision":
                load_reference_weights(nets["zoo"], nets[key])
        gflops = count_gflops(nets["zoo"], (3, s, s))
        for mode in ("inference", "training"):
            turns = config.rounds * config.repeats
            console.print(f"{name} {mode}: {', '.join(nets)}, interleaved step by step, {turns} turns...")
            for net in nets.values():
                net.train(mode == "training")
            steps = {
                key: inference_step(net, images, settings)
                if mode == "inference"
                else training_step(net, classification_loss, images, settings)
                for key, net in nets.items()
            }
            ips = interleaved(steps, b, config)
            for key in refs:
                checks.append(
                    _ratio_check(f"{name} {mode}, eager, zoo/{key}", ips["zoo"], ips[key], "img/s", ">= 1.00")
                )
                _report(console, checks[-1])
            per_image = gflops * (1 if mode == "inference" else 3)
            for key, values in ips.items():
                achieved = per_image * statistics.median(values)
                flops_rows.append(
                    [
                        name,
                        key,
                        mode,
                        f"{statistics.median(values):.1f}",
                        f"{achieved:.1f}",
                        f"{achieved / ceiling:.0%}",
                    ]
                )
    return checks, flops_rows


def densenet_fast_path(config: ReferenceConfig) -> Check:
    """Zoo densenet121 inference on the fast path vs torchvision densenet121 eager."""
    name = next((m for m in config.models if m.startswith("densenet")), "densenet121")
    reference = reference_models(name)["torchvision"]().eval()
    net = zoo.create_model(name).eval()
    load_reference_weights(net, reference)
    fast = Settings(channels_last=config.channels_last_fast_path, compile=config.compile_fast_path)
    fast_net = fast.prepare(net)
    images = torch.randn(config.batch_size, 3, config.image_size, config.image_size)
    steps = {
        "zoo": inference_step(fast_net, images.to(memory_format=fast.memory_format), fast),
        "ref": inference_step(reference, images, Settings()),
    }
    ips = interleaved(steps, config.batch_size, config)
    how = " + ".join(p for p, on in (("channels_last", fast.channels_last), ("compile", fast.compile)) if on)
    label = f"{name} inference, zoo fast path ({how or 'eager'})/torchvision eager"
    return _ratio_check(label, ips["zoo"], ips["ref"], "img/s", ">= 1.30")


def train_memory(
    name: str, model_kwargs: dict[str, Any], batch_size: int, image_size: int, warmup: int, repeats: int, threads: int
) -> tuple[float, float]:
    """In a fresh process: (peak RSS growth in MB over the training steps, training images/s).

    The growth is counted from the RSS once model and input exist, so it is what training adds:
    activations kept for the backward pass, gradients and optimiser state.
    """
    torch.set_num_threads(threads)
    keep_freed_memory()  # the allocator settings of the parent process, which spawn does not pass on
    net = zoo.create_model(name, **model_kwargs).train()
    images = torch.randn(batch_size, 3, image_size, image_size)
    step = training_step(net, classification_loss, images, Settings())
    with PeakRSS(interval=0.002) as peak:
        seconds = median_time(step, warmup, repeats)
    return (peak.peak - peak.start) / 2**20, batch_size / seconds


def densenet_memory(config: ReferenceConfig) -> list[Check]:
    """densenet121 training, memory_efficient=True vs the default, each run in a fresh process."""
    name = next((m for m in config.models if m.startswith("densenet")), "densenet121")
    context = multiprocessing.get_context("spawn")
    args = (config.batch_size, config.image_size, 1, max(config.repeats // 2, 1), torch.get_num_threads())

    def in_subprocess(efficient: bool) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                return pool.submit(train_memory, name, {"memory_efficient": efficient}, *args).result()

        return run

    results = alternate({"efficient": in_subprocess(True), "default": in_subprocess(False)}, config.rounds)
    mem = {k: [m for m, _ in v] for k, v in results.items()}
    ips = {k: [i for _, i in v] for k, v in results.items()}
    return [
        _ratio_check(
            f"{name} training peak memory, memory_efficient/default", mem["efficient"], mem["default"], "MB", "<= 0.60"
        ),
        _ratio_check(
            f"{name} training speed, memory_efficient/default", ips["efficient"], ips["default"], "img/s", ">= 0.75"
        ),
    ]


class _StepClock(pl.Callback):
    """Timestamps at the start of every training batch: their spacing is the whole loop's step time."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, *args: Any) -> None:
        self.times.append(time.perf_counter())


class _Repeat(torch.utils.data.Dataset):
    """The same ready-made batch ``length`` times (for a loader with ``batch_size=None``)."""

    def __init__(self, batch: Any, length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return self.batch


def _small_task(config: ReferenceConfig) -> tuple[Any, Any]:
    from tasks.bench.preset import Cell

    cell = Cell(
        name=config.small_model,
        model=config.small_model,
        task="classification",
        task_kwargs={"scheduler": "none"},  # a constant LR: no step count to schedule over in a plain loop
        data_kwargs={
            "image_size": config.small_image_size,
            "batch_size": config.small_batch_size,
            "num_workers": config.num_workers,
            "train_size": 100 * config.small_batch_size,
        },
        steps=1,
    )
    return cell.build()


def lightning_overhead(config: ReferenceConfig) -> tuple[Check, float]:
    """The task's training step inside a Trainer vs the same step in a plain loop, same model and
    batch (no logger: the logger's cost is W&B's, not Lightning's). Also returns the plain loop's
    images/s, the training speed the data check compares with."""
    module, data = _small_task(config)
    images, target = next(iter(torch.utils.data.DataLoader(data.dataset(True), batch_size=config.small_batch_size)))
    timed = 3 * config.repeats  # a step here is ~0.1 s: three times the model rows' steps, for the same noise
    steps = config.warmup + timed
    b = config.small_batch_size

    def plain() -> float:
        optimizer = module.configure_optimizers()["optimizer"]  # the task's own optimiser
        module.train()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss = module.compute_loss(module(images), target, images)
            loss.backward()
            optimizer.step()

        return b / median_time(step, config.warmup, timed)

    def in_trainer() -> float:
        clock = _StepClock()
        trainer = quiet_trainer(max_steps=steps + 1, callbacks=[clock], limit_val_batches=0)
        repeated = torch.utils.data.DataLoader(_Repeat((images, target), steps + 1), batch_size=None)
        with quiet_lightning():
            trainer.fit(module, train_dataloaders=repeated)
        gaps = [b2 - b1 for b1, b2 in zip(clock.times[config.warmup :], clock.times[config.warmup + 1 :], strict=False)]
        return b / statistics.median(gaps)

    ips = alternate({"trainer": in_trainer, "plain": plain}, config.rounds)
    label = f"Lightning overhead: {config.small_model} step in Trainer/plain loop ({config.small_image_size} px, b{b})"
    return _ratio_check(label, ips["trainer"], ips["plain"], "img/s", ">= 0.95"), statistics.median(ips["plain"])


def data_pipeline(config: ReferenceConfig, train_ips: float) -> Check:
    """Images/s the augmented synthetic loader delivers at ``num_workers`` workers, against the
    images/s ``small_model`` trains at (the plain loop of `lightning_overhead`)."""
    _, data = _small_task(config)
    loader = data.train_dataloader()
    batches = max(config.repeats * 2, 4)
    rates = []
    for _ in range(config.rounds):
        iterator = iter(loader)
        next(iterator)  # worker start-up is not throughput
        start = time.perf_counter()
        count = sum(len(next(iterator)[0]) for _ in range(batches))
        rates.append(count / (time.perf_counter() - start))
    label = f"data: synthetic shapes, augmented, {config.num_workers} workers / {config.small_model} training"
    return _ratio_check(label, rates, [train_ips] * len(rates), "img/s", ">= 3.00")


def _report(console: Console, check: Check) -> None:
    """Show a check as soon as it is measured (the tables come at the end)."""
    console.print(f"  {check.name}: ratio {check.ratio:.3f} (target {check.target})", highlight=False)


def run_reference(config: ReferenceConfig, console: Console | None = None) -> dict[str, Any]:
    """Run every section not in ``config.skip``, print the ratio table and the GFLOP/s table, and
    return them (``checks``: list of `Check`, ``flops``: rows, ``ceiling``: GFLOP/s)."""
    console = console or Console()
    for name in config.models:
        zoo.get_spec(name)  # an unknown name fails now, with close names
        if not set(reference_models(name)) - set(config.skip):
            raise ValueError(f"{name!r} has no torchvision or timm model to compare with; pick e.g. resnet18")
    threads = torch.get_num_threads()
    allocator = "freed memory kept (zoo.allocator)" if keep_freed_memory() else "the C library's default allocator"
    console.print(
        f"[bold]zoo bench --reference[/]: torch {torch.__version__}, {threads} threads, fp32, CPU, {allocator}"
    )
    ceiling = matmul_gflops()
    console.print(f"machine ceiling: {ceiling:.1f} GFLOP/s (2048x2048 fp32 matmul, this process)")
    checks, flops = compare_models(config, ceiling, console)
    if "fast" not in config.skip:
        console.print("densenet fast path...")
        checks.append(densenet_fast_path(config))
        _report(console, checks[-1])
    if "memory" not in config.skip:
        console.print("densenet memory_efficient, one fresh process per measurement...")
        checks.extend(densenet_memory(config))
        for check in checks[-2:]:
            _report(console, check)
    if "lightning" not in config.skip or "data" not in config.skip:
        console.print("Lightning overhead and data pipeline...")
        overhead, train_ips = lightning_overhead(config)
        if "lightning" not in config.skip:
            checks.append(overhead)
        if "data" not in config.skip:
            checks.append(data_pipeline(config, train_ips))
    header = ["check", "zoo", "reference", "ratio", "target", "met"]
    size = f"batch {config.batch_size}, {config.image_size}x{config.image_size}"
    turns = config.rounds * config.repeats
    print(
        f"\nRatios (models at {size}: median over {turns} interleaved step pairs; memory and Lightning: "
        f"median over {config.rounds} alternating rounds):\n"
    )
    print(markdown(header, [c.row() for c in checks]))
    print(f"Achieved GFLOP/s against the {ceiling:.1f} GFLOP/s matmul ceiling (training = 3x forward FLOPs):\n")
    print(markdown(["model", "implementation", "mode", "img/s", "GFLOP/s", "of ceiling"], flops))
    return {"checks": checks, "flops": flops, "ceiling": ceiling}
