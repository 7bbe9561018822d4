"""The resolution of `zoo bench --reference`: the same timing it uses, on two identical torchvision
networks (an A/A test). Their true ratio is 1, so how far the printed ratio lands from 1 is the
smallest zoo/torchvision difference the reference table can show on this machine at this moment.

    .venv/bin/python benchmarks/noise_floor.py [--model densenet121] [--mode inference|training]
        [--batch-size 8] [--image-size 224] [--rounds 3] [--repeats 7]

It prints the ratio of step-by-step interleaved turns (`tasks.bench.reference.interleaved`, what the
model rows use) and, for contrast, of rounds of 7-step medians (what they used before).
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torchvision

from tasks.bench.measure import Settings, inference_step, median_time, training_step
from tasks.bench.reference import ReferenceConfig, alternate, classification_loss, interleaved
from zoo.allocator import keep_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="densenet121", help="a torchvision model name")
    parser.add_argument("--mode", choices=("inference", "training"), default="inference")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    keep_freed_memory()
    config = ReferenceConfig(rounds=args.rounds, repeats=args.repeats)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    first = torchvision.models.get_model(args.model)
    nets = {"A": first, "B": torchvision.models.get_model(args.model)}
    nets["B"].load_state_dict(first.state_dict())
    steps = {}
    for key, net in nets.items():
        net.train(args.mode == "training")
        steps[key] = (
            inference_step(net, images, Settings())
            if args.mode == "inference"
            else training_step(net, classification_loss, images, Settings())
        )
    turns = interleaved(steps, args.batch_size, config)
    rounds = alternate(
        {k: (lambda s=s: args.batch_size / median_time(s, config.warmup, config.repeats)) for k, s in steps.items()},
        config.rounds,
    )
    for label, ips in (("interleaved steps", turns), (f"rounds of {config.repeats}-step medians", rounds)):
        ratios = [a / b for a, b in zip(ips["A"], ips["B"], strict=True)]
        print(
            f"{args.model} {args.mode}, A/B of two identical nets, {label} ({len(ratios)}): median ratio "
            f"{statistics.median(ratios):.3f}, each ratio between {min(ratios):.2f} and {max(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
