"""`zoo predict` writes what it predicted, into the run folder (``trainer.default_root_dir``):

- ``predictions.safetensors``: the task's decoded predictions in the model input's pixels (class
  probabilities and labels, masks, or keypoints and scores), one row per image, with ``index``, the
  image's position in the predict set;
- the task's own format, in the pixels and names of the images themselves:
  - classification: ``predictions.csv``, one row per image: file, label, class name, probability;
  - segmentation: ``masks/<image path>.png``, a palette PNG per image at the image's size, its
    values the class indices (VOC's colours; 255, pixels the model did not see, in VOC's void colour);
  - pose: ``predictions.json`` in COCO's keypoint results format (image_id, category_id, keypoints
    as x, y, score per joint in the image's pixels, score, and ``file_name``), with the annotation
    file's ids for a COCO source, so it goes straight into pycocotools' evaluation; for other images,
    image_id is the image's position in the predict set and category_id 1 (COCO's person).

Lightning's `Trainer.predict` only returns the predictions to the caller; from the command line they
would be lost. `PredictionFiles` writes them, for `zoo predict` and for `zoo infer` alike. Every file is
written whole or not at all (`zoo.atomic`); under DDP, each rank writes its own ``-rank<r>`` files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save

from tasks.metrics import coco_results
from zoo.atomic import write_atomic


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (Everingham et al. 2010, the devkit's ``labelcolormap``): 256 RGB
    triples, class 0 black, 255 the void colour (224, 224, 192)."""
    palette = []
    for label in range(256):
        red = green = blue = 0
        value = label
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette += [red, green, blue]
    return palette


def write_mask_png(path: Path, mask: np.ndarray) -> Path:
    """Save a (H, W) uint8 class map as a palette PNG whose pixel values are the classes."""
    image = Image.fromarray(np.ascontiguousarray(mask, np.uint8), mode="P")
    image.putpalette(voc_palette())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_atomic(path, lambda file: file.write(buffer.getvalue()))


class PredictionFiles:
    """Collects decoded predictions batch by batch (`add`) and writes the files of the module docstring
    (`finish`); `zoo predict` (through `tasks.callbacks.PredictionWriter`) and `zoo infer` both write
    through it.

    Args:
        folder: where the files go.
        task: "classification", "segmentation" or "pose".
        model: the model's name, recorded in the safetensors metadata.
        class_names: the classes' names (classification), by class index.
        suffix: added to the file names (``-rank1`` under DDP).
    """

    def __init__(
        self, folder: Path, task: str, model: str, class_names: list[str] | None = None, suffix: str = ""
    ) -> None:
        self.folder, self.task, self.model, self.class_names, self.suffix = folder, task, model, class_names, suffix
        self._tensors: list[dict[str, torch.Tensor]] = []
        self._rows: list[dict[str, Any]] = []

    def add(self, prediction: dict[str, Any], info: dict[str, Any]) -> None:
        """One batch: a decoder's output (`tasks.decoding`) and the batch's item infos."""
        tensors = {k: v.detach().cpu() for k, v in prediction.items() if isinstance(v, torch.Tensor)}
        self._tensors.append(tensors | {"index": info["index"].cpu()})
        if self.task == "classification":
            self._rows += self._label_rows(tensors, info)
        elif self.task == "segmentation":
            for name, mask in zip(info["name"], prediction["image_masks"], strict=True):
                write_mask_png(self.folder / "masks" / PurePosixPath(name).with_suffix(".png"), mask.numpy())
        else:
            self._rows += self._coco_rows(tensors, info)

    def _label_rows(self, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> list[dict]:
        labels, probs = tensors["labels"].tolist(), tensors["probs"]
        names = self.class_names or [str(i) for i in range(probs.shape[1])]
        return [
            {"file": file, "label": label, "class_name": names[label], "probability": float(probs[i, label])}
            for i, (file, label) in enumerate(zip(info["name"], labels, strict=True))
        ]

    @staticmethod
    def _coco_rows(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> list[dict]:
        scores = tensors["scores"]
        rows = coco_results(
            tensors["image_keypoints"], scores, scores.mean(1), info["image_id"].cpu(), info["category_id"].cpu()
        )
        return [row | {"file_name": name} for row, name in zip(rows, info["name"], strict=True)]

    def finish(self) -> list[Path]:
        """Write the collected files; returns their paths (the masks' folder for segmentation)."""
        if not self._tensors:
            return []
        tensors = {key: torch.cat([b[key] for b in self._tensors]).contiguous() for key in self._tensors[0]}
        path = self.folder / f"predictions{self.suffix}.safetensors"
        metadata = {"model": self.model, "task": self.task}
        write_atomic(path, lambda file: file.write(save(tensors, metadata=metadata)))
        written = [path]
        if self.task == "classification":
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(self._rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(self._rows)
            written.append(self.folder / f"predictions{self.suffix}.csv")
            write_atomic(written[-1], lambda file: file.write(text.getvalue().encode()))
        elif self.task == "pose":
            written.append(self.folder / f"predictions{self.suffix}.json")
            write_atomic(written[-1], lambda file: file.write(json.dumps(self._rows).encode()))
        else:
            written.append(self.folder / "masks")
        self._tensors, self._rows = [], []
        return written
