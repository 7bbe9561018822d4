"""Where the time goes, op by op, in the zoo's model and torchvision's: torch.profiler around single
steps taken in turns (zoo, torchvision, torchvision, zoo...), each op's self CPU time summed per side.
A zoo block slower than torchvision's shows up as the op with the largest positive difference.

    .venv/bin/python benchmarks/profile_vs_torchvision.py [--model densenet121]
        [--mode inference|training] [--steps 6] [--batch-size 8] [--image-size 224] [--top 12]
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

import zoo
from tasks.bench.measure import Settings, inference_step, training_step
from tasks.bench.reference import alternate, classification_loss, load_reference_weights, reference_models
from zoo.allocator import keep_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="densenet121", help="a zoo model torchvision also has")
    parser.add_argument("--mode", choices=("inference", "training"), default="training")
    parser.add_argument("--steps", type=int, default=6, help="profiled steps a side")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--top", type=int, default=12, help="ops to list, largest difference first")
    args = parser.parse_args()
    keep_freed_memory()  # as the `zoo` command does
    reference = reference_models(args.model)["torchvision"]()
    nets = {"zoo": zoo.create_model(args.model), "torchvision": reference}
    if not load_reference_weights(nets["zoo"], reference):
        parser.error(f"{args.model}: torchvision's state dict does not load into the zoo model")
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    totals: dict[str, collections.Counter] = {key: collections.Counter() for key in nets}

    def profiled(key: str, net: torch.nn.Module) -> float:
        """One profiled step of ``net``; returns its self CPU time in ms."""
        net.train(args.mode == "training")
        step = (
            inference_step(net, images, Settings())
            if args.mode == "inference"
            else training_step(net, classification_loss, images, Settings())
        )
        step()  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        times = {event.key: event.self_cpu_time_total for event in prof.key_averages()}
        totals[key].update(times)
        return sum(times.values()) / 1e3

    alternate({key: (lambda key=key, net=net: profiled(key, net)) for key, net in nets.items()}, args.steps)
    zoo_ms, ref_ms = (sum(totals[k].values()) / 1e3 for k in nets)
    print(f"{args.model} {args.mode}, {args.steps} profiled steps a side, self CPU time in ms")
    print(f"total: zoo {zoo_ms:.0f}, torchvision {ref_ms:.0f}, zoo/torchvision time {zoo_ms / ref_ms:.3f}\n")
    print("| op | zoo ms | torchvision ms | zoo - torchvision |\n|---|---:|---:|---:|")
    ops = sorted(
        set(totals["zoo"]) | set(totals["torchvision"]),
        key=lambda op: -abs(totals["zoo"][op] - totals["torchvision"][op]),
    )
    for op in ops[: args.top]:
        z, r = totals["zoo"][op] / 1e3, totals["torchvision"][op] / 1e3
        print(f"| {op} | {z:.0f} | {r:.0f} | {z - r:+.0f} |")


if __name__ == "__main__":
    main()
