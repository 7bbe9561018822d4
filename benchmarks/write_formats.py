"""Write the built-in synthetic sets to disk in the real formats archzoo reads, to try the own-data
commands (README, "Your own data") and to measure them on files rather than on generated items.

    .venv/bin/python benchmarks/write_formats.py --out data/formats [--train 2000] [--val 500]

Writes, under ``--out``:
- ``imagefolder/{train,val}/<class>/<index>.png``: the synthetic shapes (10 classes, 32 px);
- ``maskfolder/{train,val}/{images,masks}/<index>.png``: the synthetic scenes (64 px) and their palette
  masks (6 classes, background included);
- ``coco/{train2017,val2017}/<index>.png`` and ``coco/annotations/person_keypoints_{train,val}2017.json``:
  each synthetic stick figure (64 px, 15 joints) pasted at a random place of a larger grey canvas, with
  its person box (the joints' box, grown by 10%), area and keypoints, COCO style. The figures' joints
  are not COCO's 17, so COCO's OKS AP on them needs ``--data.init_args.oks_sigmas`` (15 values).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.data.synthetic import SyntheticFigures, SyntheticScenes, SyntheticShapes
from tasks.prediction import write_mask_png


def write_imagefolder(root: Path, length: int, seed: int) -> None:
    shapes = SyntheticShapes(length, image_size=32, seed=seed)
    for index in range(length):
        image, label = shapes[index]
        folder = root / shapes.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:05d}.png")


def write_maskfolder(root: Path, length: int, seed: int) -> None:
    scenes = SyntheticScenes(length, image_size=64, seed=seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for index in range(length):
        image, mask = scenes[index]
        Image.fromarray(image).save(root / "images" / f"{index:05d}.png")
        write_mask_png(root / "masks" / f"{index:05d}.png", mask)


def write_coco(root: Path, split: str, length: int, seed: int) -> None:
    figures = SyntheticFigures(length, image_size=64, seed=seed)
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(length):
        image, keypoints, visibility = figures[index]
        left, top = (int(v) for v in rng.integers(0, 33, 2))
        canvas = np.full((96, 96, 3), 127, np.uint8)
        canvas[top : top + 64, left : left + 64] = image
        Image.fromarray(canvas).save(root / split / f"{index:05d}.png")
        points = keypoints + [left, top]
        low, high = points.min(0), points.max(0)
        margin = 0.1 * (high - low)
        x, y = np.maximum(low - margin, 0)
        w, h = np.minimum(high + margin, 95) - [x, y]
        labelled = np.where(visibility > 0, 2, 0)
        images.append({"id": index + 1, "file_name": f"{index:05d}.png", "width": 96, "height": 96})
        annotations.append(
            {
                "id": index + 1,
                "image_id": index + 1,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [float(x), float(y), float(w), float(h)],
                "area": float(w * h),
                "num_keypoints": int((labelled > 0).sum()),
                "keypoints": np.column_stack([points * (labelled[:, None] > 0), labelled]).ravel().round(2).tolist(),
            }
        )
    category = {
        "id": 1,
        "name": "person",
        "keypoints": list(figures.joint_names),
        "skeleton": [[a + 1, b + 1] for a, b in figures.skeleton],
    }
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [category]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=500)
    args = parser.parse_args()
    for split, length, seed in (("train", args.train, 0), ("val", args.val, 1)):  # held out: another seed
        write_imagefolder(args.out / "imagefolder" / split, length, seed)
        write_maskfolder(args.out / "maskfolder" / split, length, seed)
        write_coco(args.out / "coco", f"{split}2017", length, seed)
    print(f"wrote imagefolder/, maskfolder/ and coco/ under {args.out}")


if __name__ == "__main__":
    main()
