"""Tests for tasks.wandb_records: reading a real offline W&B run back, and the block format itself."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from wandb.proto import wandb_internal_pb2 as pb

from tasks.wandb_records import BLOCK, FIRST, FULL, HEADER, LAST, MIDDLE, iter_records, read_run, wait_closed

STEPS = 400
LONG = "".join(chr(ord("a") + i % 26) for i in range(100_000))  # a config value 3 blocks long


def _closed_run(root: Path) -> Path:
    """The one offline run folder under ``root``, once W&B has written it out."""
    (run_dir,) = (root / "wandb").glob("offline-run-*")
    return wait_closed(run_dir)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """A finished offline run: config at init and later, STEPS scalar steps, then an image."""
    import wandb

    root = tmp_path_factory.mktemp("wandb")
    mp = pytest.MonkeyPatch()
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        mp.setenv(name, str(root))
    mp.setenv("WANDB_SILENT", "true")
    try:
        run = wandb.init(mode="offline", dir=root, project="t", config={"lr": 0.1, "model": "resnet20"})
        run.config.update({"batch_size": 32, "long": LONG, "nested": {"depth": 4}})
        for step in range(STEPS):
            run.log({"train/loss": 1.0 / (step + 1), "note": f"step {step:04d} " + "x" * 200})
        run.log({"val/acc1": 0.75, "picture": wandb.Image(np.zeros((12, 20, 3), np.uint8), caption="black")})
        run.finish()
    finally:
        mp.undo()
    return _closed_run(root)


def test_read_run_returns_config_set_after_init(offline_run):
    config = read_run(offline_run)["config"]
    assert config["batch_size"] == 32 and config["nested"] == {"depth": 4}
    assert config["long"] == LONG  # a record that spans several 32 KiB blocks


def test_read_run_returns_config_given_to_init(offline_run):
    # wandb 0.31 stores wandb.init(config=...) in the "run" record, not in a "config" record
    config = read_run(offline_run)["config"]
    assert config["lr"] == 0.1 and config["model"] == "resnet20"


def test_read_run_returns_every_history_step(offline_run):
    (run_file,) = offline_run.glob("run-*.wandb")
    assert run_file.stat().st_size > 4 * BLOCK
    history = read_run(offline_run)["history"]
    steps = [row for row in history if "train/loss" in row]
    assert [row["_step"] for row in steps] == list(range(STEPS))
    assert [row["train/loss"] for row in steps] == pytest.approx([1.0 / (s + 1) for s in range(STEPS)])
    assert all(row["note"].startswith(f"step {row['_step']:04d} ") for row in steps)


def test_read_run_returns_image_metadata_and_summary(offline_run):
    run = read_run(offline_run)
    (row,) = [row for row in run["history"] if "val/acc1" in row]
    assert row["_step"] == STEPS and row["val/acc1"] == 0.75
    assert row["picture._type"] == "image-file" and row["picture.format"] == "png"
    assert (row["picture.width"], row["picture.height"]) == (20, 12)
    assert row["picture.caption"] == "black"
    assert (offline_run / "files" / row["picture.path"]).is_file()
    assert run["summary"]["val/acc1"] == 0.75 and run["summary"]["train/loss"] == pytest.approx(1.0 / STEPS)


def test_iter_records_refuses_other_files(tmp_path):
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"PK\x03\x04 not a wandb file" * 10)
    with pytest.raises(ValueError, match="not a W&B run file"):
        list(iter_records(path))
    with pytest.raises(FileNotFoundError, match="expected one run-"):
        read_run(tmp_path / "nothing")


# --- the block format, written by hand ------------------------------------------------------------


def _write_log(records: list[bytes]) -> bytes:
    """LevelDB log format as wandb writes it: 32 KiB blocks counted from the start of the file (the 7-byte
    W&B header included); a block tail shorter than a chunk header is zero padding."""
    out = bytearray(b":W&B\xe1\xbe\x00")
    for payload in records:
        first = True
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < HEADER:
                out += b"\x00" * left
                continue
            piece, payload = payload[: left - HEADER], payload[left - HEADER :]
            kind = (FULL if not payload else FIRST) if first else (LAST if not payload else MIDDLE)
            out += struct.pack("<IHB", 0, len(piece), kind) + piece
            first = False
            if not payload:
                break
    return bytes(out)


def _history(step: int, size: int) -> bytes:
    """A serialised history record of about ``size`` bytes."""
    record = pb.Record()
    item = record.history.item.add()
    item.key, item.value_json = "v", f'"{"y" * max(size, 0)}"'
    record.history.step.num = step
    return record.SerializeToString()


@pytest.mark.parametrize("tail", range(HEADER + 2))
def test_iter_records_across_block_tails(tmp_path, tail):
    # the first record leaves exactly `tail` bytes in block 0: padding (tail < 7), an empty FIRST chunk
    # (tail == 7) or a 1-byte FIRST chunk (tail == 8), then records spanning whole blocks follow
    target = BLOCK - 2 * HEADER - tail
    first = _history(0, target)
    first = _history(0, target - (len(first) - target))
    assert len(first) == target
    records = [first, _history(1, 5), _history(2, 3 * BLOCK), _history(3, BLOCK - 50), _history(4, 0)]
    path = tmp_path / "run-x.wandb"
    path.write_bytes(_write_log(records))

    read = list(iter_records(path))
    assert [r.SerializeToString() for r in read] == records
    assert [r.history.step.num for r in read] == [0, 1, 2, 3, 4]
