"""`make gpu-check`: on a machine with a CUDA device, check archzoo's GPU paths and print its speed
against torchvision's on that GPU; on a machine without one, say so and exit 0.

    .venv/bin/python benchmarks/gpu_check.py [--batch-size 32] [--image-size 224] [--repeats 10]

1. The CUDA tests (`tests/tasks/test_cuda.py`, skipped on CPU): `zoo.create_model` on cuda, one
   `zoo fit` step per task with 16-mixed and with bf16-mixed + channels_last, and a bench cell with
   `--device cuda`.
2. The speed table: training and inference images/s of archzoo's and torchvision's resnet18,
   resnet50 and densenet121 at 16-mixed with channels_last, measured one after the other in this
   process (`tasks.bench.measure.throughput`, as `zoo bench` measures), and their ratios.

Takes about 2-4 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import zoo
from tasks.bench.measure import Settings, throughput
from zoo.summary import markdown

MODELS = ("resnet18", "resnet50", "densenet121")
TESTS = Path(__file__).resolve().parents[1] / "tests" / "tasks" / "test_cuda.py"


def speed_table(
    settings: Settings, models: tuple[str, ...] = MODELS, batch: int = 32, size: int = 224, repeats: int = 10
) -> list[dict[str, float | str]]:
    """archzoo's and torchvision's training images/s per model on `settings`' device, measured one
    after the other in this process, and the archzoo / torchvision ratios of training and inference."""
    import torchvision

    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 1000, (batch,), device=settings.device)

    def loss_fn(output: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), labels)

    rows = []
    for name in models:
        nets = {"archzoo": zoo.create_model(name), "torchvision": getattr(torchvision.models, name)()}
        speed = {
            lib: throughput(settings.prepare(net), images, loss_fn, settings, warmup=3, repeats=repeats)
            for lib, net in nets.items()
        }
        rows.append(
            {
                "model": name,
                **{f"{lib} train img/s": round(s["train_ips"], 1) for lib, s in speed.items()},
                "train ratio": round(speed["archzoo"]["train_ips"] / speed["torchvision"]["train_ips"], 3),
                "infer ratio": round(speed["archzoo"]["infer_ips"] / speed["torchvision"]["infer_ips"], 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA device on this machine; nothing to check (the CUDA tests skip here).")
        return 0
    print(f"gpu-check on {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", str(TESTS)], check=False)
    settings = Settings("cuda", "16-mixed", channels_last=True)
    rows = speed_table(settings, batch=args.batch_size, size=args.image_size, repeats=args.repeats)
    header = list(rows[0])
    print(markdown(header, [[str(row[k]) for k in header] for row in rows], right=frozenset(range(1, len(header)))))
    print(f"CUDA tests: {'passed' if tests.returncode == 0 else 'FAILED'}")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
