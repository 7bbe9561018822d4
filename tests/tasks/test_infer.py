"""`zoo infer`: an ONNX file from `zoo export` predicts a folder of images through onnxruntime and writes
the files `zoo predict` writes from the checkpoint, with the same predictions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.cli import main

TINY = {
    "classification/resnet": ["--model.init_args.model_kwargs", "{widths: [4, 4, 8]}"],
    "segmentation/unet": [
        "--model.init_args.model_kwargs",
        "{base_width: 4, depth: 2}",
        "--data.init_args.image_size",
        "32",
    ],
    "pose/resnet": [
        "--model.init_args.model_kwargs",
        "{widths: [4, 4, 8, 8], width: 8}",
        "--data.init_args.image_size",
        "64",
    ],
}
SMALL = ["--data.init_args.train_size", "8", "--data.init_args.val_size", "4", "--data.init_args.batch_size", "4"]
QUIET = ["--data.init_args.num_workers", "0", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]


@pytest.fixture
def photos(tmp_path: Path, write) -> Path:
    root = tmp_path / "photos"
    write.png(root / "wide.png", write.image(20, 50))
    write.png(root / "a" / "tall.png", write.image(45, 16))
    return root


@pytest.mark.parametrize("config", list(TINY))
def test_infer_writes_what_predict_writes(tmp_path: Path, photos: Path, config: str) -> None:
    run, inferred = tmp_path / "run", tmp_path / "inferred"
    common = ["--config", config, *TINY[config], *SMALL, *QUIET, "--trainer.default_root_dir", str(run)]
    main(["fit", *common, "--trainer.max_steps", "2"])
    checkpoint = str(run / "checkpoints" / "last.ckpt")
    main(["export", checkpoint, str(tmp_path / "model.onnx")])
    main(["predict", *common, "--ckpt_path", checkpoint, "--data.init_args.predict_root", str(photos)])
    main(["infer", str(tmp_path / "model.onnx"), str(photos), "--out", str(inferred)])
    if config.startswith("classification"):
        expected, got = (list(csv.DictReader((folder / "predictions.csv").open())) for folder in (run, inferred))
        assert [r["file"] for r in got] == ["a/tall.png", "wide.png"]
        assert [r["class_name"] for r in got] == [r["class_name"] for r in expected]
        assert np.allclose(
            [float(r["probability"]) for r in got], [float(r["probability"]) for r in expected], atol=1e-5
        )
    elif config.startswith("segmentation"):
        for name in ("wide.png", "a/tall.png"):
            expected, got = (np.asarray(Image.open(folder / "masks" / name)) for folder in (run, inferred))
            assert got.shape == Image.open(photos / name).size[::-1] and np.array_equal(got, expected)
    else:
        expected, got = (json.loads((folder / "predictions.json").read_text()) for folder in (run, inferred))
        assert [r["file_name"] for r in got] == ["a/tall.png", "wide.png"]
        assert np.allclose([r["keypoints"] for r in got], [r["keypoints"] for r in expected], atol=1e-3)


def test_infer_needs_a_zoo_export_file(tmp_path: Path, photos: Path) -> None:
    import torch

    torch.onnx.export(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 8, 8),), str(tmp_path / "plain.onnx"), dynamo=True)
    with pytest.raises(SystemExit, match="no archzoo.task metadata: export it with `zoo export"):
        main(["infer", str(tmp_path / "plain.onnx"), str(photos)])


def test_infer_names_a_missing_or_broken_file(tmp_path: Path, photos: Path) -> None:
    with pytest.raises(SystemExit, match="No ONNX file at .*missing.onnx: write one with `zoo export"):
        main(["infer", str(tmp_path / "missing.onnx"), str(photos)])
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(SystemExit, match="onnxruntime cannot read .*broken.onnx"):
        main(["infer", str(tmp_path / "broken.onnx"), str(photos)])
