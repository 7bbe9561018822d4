"""What each part of the training augmentation costs per image, on one core: the task's pipeline
(`tasks.data.transforms.build_transforms`) timed whole and with each part alone, on the task's
synthetic items, at several image sizes.

    .venv/bin/python benchmarks/augment_cost.py [--sizes 32 64 128 256] [--items 200]

Prints microseconds per image: the evaluation pipeline (resize, normalise, to tensor) as the floor,
then each augmentation added to it alone, then the whole training pipeline.
"""

from __future__ import annotations

import argparse
import time

import albumentations as A

from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes
from tasks.data.transforms import TaskTransform, build_transforms
from zoo.summary import markdown

SOURCES = {"classification": SyntheticShapes, "segmentation": SyntheticScenes, "pose": SyntheticFigures}


def per_image_us(transform: TaskTransform, items: list[tuple]) -> float:
    """Median-free mean over the items, after one warm-up pass (albumentations builds lazily)."""
    for item in items[:10]:
        transform(*item)
    start = time.perf_counter()
    for item in items:
        transform(*item)
    return (time.perf_counter() - start) / len(items) * 1e6


def parts(task: str, size: int, flip_pairs: list | None) -> dict[str, TaskTransform]:
    """The evaluation pipeline, each training augmentation added to it alone, and the training pipeline."""
    train = build_transforms(task, size, True, flip_pairs)
    augmentations = [t for t in train.compose.transforms if not isinstance(t, (A.Normalize, A.ToTensorV2))]
    pipelines = {"eval (resize)": build_transforms(task, size, False, flip_pairs)}
    for transform in augmentations:
        if isinstance(transform, A.Resize):
            continue
        pipelines[f"+ {type(transform).__name__}"] = TaskTransform(task, [A.Resize(size, size), transform], flip_pairs)
    pipelines["train (all)"] = train
    return pipelines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    for task, source in SOURCES.items():
        rows: dict[str, list[str]] = {}
        for size in args.sizes:
            data = source(args.items, image_size=size, seed=0)
            items = [data[i] for i in range(len(data))]
            flip_pairs = getattr(data, "flip_pairs", None)
            for name, transform in parts(task, size, flip_pairs).items():
                rows.setdefault(name, [name]).append(f"{per_image_us(transform, items):.0f}")
        print(f"\n{task} (microseconds per image, one core)\n")
        print(markdown(["pipeline", *(f"{s} px" for s in args.sizes)], list(rows.values()), frozenset(range(1, 99))))


if __name__ == "__main__":
    main()
