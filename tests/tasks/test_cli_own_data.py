"""A user's own files through the `zoo` command: for every real format, one `zoo fit` -> `zoo validate`
-> `zoo predict` chain of `zoo` processes on small files the test writes (ImageFolder, CIFAR pickles,
image + palette-mask folders, COCO keypoints), and the other argument combinations in this process
through `tasks.cli.main`, the command's entry point. W&B is disabled here (`test_cli` checks it); the
metrics are read from each run's CSV log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from safetensors.torch import load_file

from tasks.cli import main

QUIET = {"WANDB_MODE": "disabled"}
COMMON = ["--data.init_args.num_workers", "0", "--data.init_args.batch_size", "4", "--trainer.log_every_n_steps", "1"]
TINY = {
    "classification/resnet": ["--model.init_args.model_kwargs", "{widths: [4, 4, 8]}"],
    "segmentation/resnet": ["--model.init_args.model_kwargs", "{widths: [4, 8, 8, 16]}"],
    "pose/hourglass": [
        "--model.init_args.model_kwargs",
        "{channels: 8, depth: 2}",
        "--data.init_args.image_size",
        "32",
    ],
}


@pytest.fixture
def photos(tmp_path: Path, write) -> Path:
    """A user's folder of images to predict: sizes and aspects of all kinds, a subfolder, a non-image."""
    root = tmp_path / "photos"
    write.png(root / "wide.png", write.image(20, 50))
    write.png(root / "tall.png", write.image(45, 16))
    (root / "trip").mkdir()
    Image.fromarray(write.image(33, 33)).save(root / "trip" / "square.jpg")
    (root / "notes.txt").write_text("not an image")
    return root


def chain(zoo, tmp_path: Path, config: str, data: list[str], predict: list[str] | None = None) -> Path:
    """`zoo fit` (2 epochs of a few steps), `zoo validate` and `zoo predict` on the last checkpoint, each
    a `zoo` process; returns the run folder."""
    run = tmp_path / "run"
    args = ["--config", config, *TINY[config], *COMMON, *data, "--trainer.default_root_dir", str(run)]
    zoo(["fit", *args, "--trainer.max_epochs", "2"], tmp_path, **QUIET)
    last = str(run / "checkpoints" / "last.ckpt")
    zoo(["validate", *args, "--ckpt_path", last], tmp_path, **QUIET)
    zoo(["predict", *args, "--ckpt_path", last, *(predict or [])], tmp_path, **QUIET)
    return run


def test_imagefolder_fit_validate_and_predict_a_folder_of_images(zoo, tmp_path, imagefolder, photos) -> None:
    source = ["--data.init_args.source", "imagefolder", "--data.init_args.root", str(imagefolder)]
    run = chain(zoo, tmp_path, "classification/resnet", source, ["--data.init_args.predict_root", str(photos)])
    assert 0 <= zoo.last(zoo.metrics(run), "val/acc1") <= 1  # the newest log: zoo validate's
    with (run / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [r["file"] for r in rows] == ["tall.png", "trip/square.jpg", "wide.png"]  # sorted, recursive
    assert {r["class_name"] for r in rows} <= {"cat", "dog"}  # the checkpoint's class names
    assert all(r["class_name"] == ["cat", "dog"][int(r["label"])] and 0.5 <= float(r["probability"]) <= 1 for r in rows)
    probs = load_file(run / "predictions.safetensors")["probs"]
    assert probs.shape == (3, 2) and torch.allclose(probs.sum(1), torch.ones(3))


def test_cifar_pickles_fit_validate_and_predict_the_test_split(zoo, tmp_path, cifar10) -> None:
    root, written = cifar10
    run = chain(
        zoo, tmp_path, "classification/resnet", ["--data.init_args.source", "cifar", "--data.init_args.root", str(root)]
    )
    assert 0 <= zoo.last(zoo.metrics(run), "val/acc1") <= 1
    with (run / "predictions.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [r["file"] for r in rows] == ["000000", "000001", "000002"]  # test_batch's rows
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert all(r["class_name"] == names[int(r["label"])] for r in rows)


def test_maskfolder_with_num_classes_on_the_data_only(zoo, tmp_path, maskfolder, photos) -> None:
    """The command of the issue that stopped before its first step: num_classes given to the data only."""
    data = ["--data.init_args.source", "maskfolder", "--data.init_args.root", str(maskfolder)]
    run = chain(
        zoo,
        tmp_path,
        "segmentation/resnet",
        [*data, "--data.init_args.num_classes", "3"],
        ["--data.init_args.predict_root", str(photos)],
    )
    assert 0 <= zoo.last(zoo.metrics(run), "val/miou") <= 1
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["num_classes"] == 3
    for name, size in (("wide.png", (50, 20)), ("tall.png", (16, 45)), ("trip/square.png", (33, 33))):
        mask = Image.open(run / "masks" / name)  # the image's own size, not the model's 64x64
        assert mask.mode == "P" and mask.size == size and set(np.unique(np.asarray(mask))) <= {0, 1, 2}
    assert load_file(run / "predictions.safetensors")["mask"].shape == (3, 64, 64)


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--model.init_args.num_classes", "3"], None),
        (["--model.init_args.num_classes", "3", "--data.init_args.num_classes", "3"], None),
        (
            ["--model.init_args.num_classes", "4", "--data.init_args.num_classes", "3"],
            r"--model.init_args.num_classes 4 and --data.init_args.num_classes 3 disagree",
        ),
        ([], r"needs the number of classes.*--data.init_args.num_classes N \(or --model.init_args.num_classes N"),
    ],
    ids=["model-only", "both-equal", "both-different", "neither"],
)
def test_maskfolder_num_classes_on_the_model_both_or_neither(tmp_path, maskfolder, flags, problem) -> None:
    run = tmp_path / "run"
    args = [
        "fit",
        "--config",
        "segmentation/resnet",
        *TINY["segmentation/resnet"],
        *COMMON,
        *["--data.init_args.source", "maskfolder", "--data.init_args.root", str(maskfolder)],
        *["--trainer.max_steps", "1", "--trainer.logger", "false", "--trainer.default_root_dir", str(run)],
        *flags,
    ]
    if problem is None:
        main(args)
        assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["num_classes"] == 3
    else:
        with pytest.raises(SystemExit, match=problem):
            main(args)
        assert not run.exists()  # stopped before anything was written


def test_coco_fit_validate_logs_oks_ap_and_predict_writes_coco_results(zoo, tmp_path, coco_people, photos) -> None:
    data = ["--data.init_args.source", "coco", "--data.init_args.root", str(coco_people)]
    run = chain(zoo, tmp_path, "pose/hourglass", data)
    rows = zoo.metrics(run)
    for key in ("val/pck", "val/oks_ap_gtbox", "val/oks_ap50_gtbox", "val/oks_ap75_gtbox"):
        assert 0 <= zoo.last(rows, key) <= 1, key
    results = json.loads((run / "predictions.json").read_text())
    truth = COCO(str(coco_people / "annotations/person_keypoints_val2017.json"))
    assert len(results) == len(truth.getAnnIds())  # every person of the 4 validation images
    assert {r["image_id"] for r in results} == set(truth.getImgIds()) and {r["category_id"] for r in results} == {1}
    assert all(len(r["keypoints"]) == 17 * 3 and r["file_name"].endswith(".png") for r in results)
    evaluation = COCOeval(truth, truth.loadRes(results), "keypoints")  # the file goes straight into COCO's evaluation
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert 0 <= evaluation.stats[0] <= 1

    # a folder of plain images: each whole image, padded to a square, is one person's crop
    args = ["predict", "--config", "pose/hourglass", *TINY["pose/hourglass"], *COMMON, *data]
    last = str(run / "checkpoints" / "last.ckpt")
    main([*args, "--trainer.default_root_dir", str(run), "--trainer.logger", "false", "--ckpt_path", last,
          "--data.init_args.predict_root", str(photos)])  # fmt: skip
    results = json.loads((run / "predictions.json").read_text())
    assert [r["file_name"] for r in results] == ["tall.png", "trip/square.jpg", "wide.png"]
    sizes = {"tall.png": (16, 45), "trip/square.jpg": (33, 33), "wide.png": (50, 20)}
    for result in results:
        width, height = sizes[result["file_name"]]
        side = max(width, height)
        xy = np.asarray(result["keypoints"]).reshape(17, 3)[:, :2]
        # inside the square the crop showed, centred on the image (not the image stretched to a square)
        assert (xy[:, 0] >= (width - side) / 2 - 0.5).all() and (xy[:, 0] <= (width + side) / 2 - 0.5).all()
        assert (xy[:, 1] >= (height - side) / 2 - 0.5).all() and (xy[:, 1] <= (height + side) / 2 - 0.5).all()


def test_predict_names_an_unreadable_image_or_skips_it(tmp_path, photos) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    args = ["predict", "--config", "classification/resnet", *TINY["classification/resnet"], *COMMON]
    args += ["--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path / "run")]
    args += ["--data.init_args.predict_root", str(photos), "--model.init_args.num_classes", "10"]
    with pytest.raises(Exception, match=r"broken\.jpg.*skip_bad"):
        main(args)
    with pytest.warns(UserWarning, match="broken.jpg"):
        main([*args, "--data.init_args.skip_bad", "true"])
    assert (tmp_path / "run" / "predictions.csv").read_text().count("\n") == 1 + 3


def test_predict_needs_no_training_data(tmp_path, maskfolder, photos) -> None:
    """A checkpoint and a folder are enough: the classes come from the checkpoint, the root is gone."""
    run = tmp_path / "run"
    data = ["--data.init_args.source", "maskfolder", "--data.init_args.root", str(maskfolder)]
    common = ["--config", "segmentation/resnet", *TINY["segmentation/resnet"], *COMMON, "--trainer.logger", "false"]
    main(["fit", *common, *data, "--data.init_args.num_classes", "3", "--trainer.max_steps", "1",
          "--trainer.default_root_dir", str(run)])  # fmt: skip
    gone = ["--data.init_args.source", "maskfolder", "--data.init_args.root", str(tmp_path / "moved")]
    main(["predict", *common, *gone, "--trainer.default_root_dir", str(run), "--ckpt_path",
          str(run / "checkpoints" / "last.ckpt"), "--data.init_args.predict_root", str(photos)])  # fmt: skip
    assert sorted(p.name for p in (run / "masks").rglob("*.png")) == ["square.png", "tall.png", "wide.png"]
