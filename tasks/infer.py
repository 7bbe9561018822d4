"""`zoo infer MODEL.onnx IMAGES`: an exported model predicts a folder of images with onnxruntime, no
PyTorch checkpoint needed, and writes the same files as `zoo predict` (`tasks.prediction`): the images
are read and resized as `zoo predict` reads them (`tasks.data`), the output is decoded as the task
decodes it (`tasks.decoding`), with the task, class names and image size from the file's metadata
(`zoo export` writes them; `zoo.export.onnx_metadata`).

    zoo infer unet.onnx ~/photos --out runs/photos [--image-size 64] [--batch-size 16] [--skip-bad]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tasks.data.datasets import PredictItems, TaskDataset, collate_good
from tasks.data.formats import ImageFiles
from tasks.data.transforms import PredictTransform, build_transforms
from tasks.decoding import DECODERS
from tasks.prediction import PredictionFiles


def read_metadata(session: object, path: Path) -> dict[str, object]:
    """The archzoo metadata of an ONNX session, JSON values decoded; a file `zoo export` did not write
    raises a ValueError saying what is missing."""
    raw = session.get_modelmeta().custom_metadata_map
    if "archzoo.task" not in raw:
        raise ValueError(f"{path} has no archzoo.task metadata: export it with `zoo export <checkpoint> <out.onnx>`.")
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return decoded


def infer(
    model: str | Path,
    images: str | Path,
    out: str | Path,
    image_size: int | None = None,
    batch_size: int = 16,
    skip_bad: bool = False,
) -> list[Path]:
    """Predict every image under ``images`` with the ONNX file ``model``; returns the files written."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("zoo infer runs ONNX files with onnxruntime: pip install 'archzoo[export]'") from error
    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"No ONNX file at {model}: write one with `zoo export <checkpoint> {model.name}`.")
    try:
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a file it cannot read
        raise ValueError(f"onnxruntime cannot read {model}: {str(error).splitlines()[0]}") from error
    meta = read_metadata(session, model)
    task = str(meta["archzoo.task"])
    size = image_size or meta.get("archzoo.image_size")
    if not size:
        raise ValueError(f"{model} does not record the image size it was trained at: pass --image-size.")
    source = PredictItems(ImageFiles(images, crop_size=int(size) if task == "pose" else None))
    dataset = TaskDataset(source, PredictTransform(build_transforms(task, int(size), train=False)), skip_bad)
    files = PredictionFiles(Path(out), task, str(meta["archzoo.model"]), meta.get("archzoo.class_names"))
    for batch, _ in DataLoader(dataset, batch_size=batch_size, collate_fn=collate_good):
        if batch is None:
            continue
        pictures, info = batch
        (output,) = session.run(None, {session.get_inputs()[0].name: pictures.numpy()})
        files.add(DECODERS[task](torch.from_numpy(output), tuple(pictures.shape[-2:]), info), info)
    return files.finish()


def main(argv: list[str]) -> None:
    """`zoo infer MODEL.onnx IMAGES [--out DIR] [--image-size N] [--batch-size N] [--skip-bad]`."""
    parser = argparse.ArgumentParser(
        prog="zoo infer",
        description="Predict a folder of images with an ONNX file written by `zoo export`, through onnxruntime; "
        "writes the same files as `zoo predict`.",
    )
    parser.add_argument("model", type=Path, help="an ONNX file written by `zoo export`")
    parser.add_argument("images", type=Path, help="a folder of images, searched recursively")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write (default: here)")
    parser.add_argument("--image-size", type=int, help="the model's input side (default: from the file)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable images instead of stopping")
    args = parser.parse_args(argv)
    try:
        written = infer(args.model, args.images, args.out, args.image_size, args.batch_size, args.skip_bad)
    except (OSError, ValueError, ImportError) as error:
        raise SystemExit(f"zoo infer: {error}") from error
    print(f"wrote {', '.join(map(str, written))}")
