"""Tests of tasks.checkpoint_io: a process killed while it writes a checkpoint leaves the previous one
whole and loadable at the final path."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest
import torch

from tasks.checkpoint_io import AtomicCheckpointIO, atomic_copy, atomic_save, snapshot

SIZE = 4_000_000  # 16 MB of float32: a save takes long enough to be killed in the middle


def _save_forever(path: str) -> None:
    io = AtomicCheckpointIO()
    version = 1
    while True:
        io.save_checkpoint({"version": version, "weights": torch.full((SIZE,), float(version))}, path)
        version += 1


def test_a_kill_during_a_save_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_save({"version": 0, "weights": torch.zeros(SIZE)}, path)
    rng, versions = random.Random(0), []
    for _ in range(6):
        process = multiprocessing.get_context("fork").Process(target=_save_forever, args=(str(path),))
        process.start()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        state = torch.load(path, map_location="cpu", weights_only=True)  # never truncated
        assert state["weights"].shape == (SIZE,) and bool((state["weights"] == state["version"]).all())
        versions.append(state["version"])
        assert sorted(p.name for p in tmp_path.iterdir()) in (["last.ckpt"], [".last.ckpt.tmp", "last.ckpt"])
    assert len(set(versions)) > 1  # the children did replace the file between kills


def test_remote_paths_and_storage_options_go_to_lightning(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "x.ckpt")
    assert torch.equal(torch.load(tmp_path / "x.ckpt", weights_only=True)["a"], torch.ones(2))
    with pytest.raises(TypeError, match="storage_options"):  # Lightning's own refusal, not a silent local save
        io.save_checkpoint({"a": 1}, tmp_path / "y.ckpt", storage_options={"k": 1})
    assert not (tmp_path / "y.ckpt").exists()


def test_a_background_save_writes_the_state_at_the_call_while_training_goes_on(tmp_path):
    io = AtomicCheckpointIO(background=True)
    weights = torch.zeros(SIZE)
    io.save_checkpoint({"weights": weights, "step": 1}, tmp_path / "last.ckpt")
    weights += 1  # the next optimizer step, racing the writer thread
    io.copy_checkpoint(tmp_path / "last.ckpt", tmp_path / "best.ckpt")  # after the save, in order
    io.save_checkpoint({"weights": weights, "step": 2}, tmp_path / "last.ckpt")
    io.remove_checkpoint(tmp_path / "gone.ckpt")
    state = io.load_checkpoint(tmp_path / "last.ckpt")  # waits for the queue first
    assert state["step"] == 2 and bool((state["weights"] == 1).all())
    best = torch.load(tmp_path / "best.ckpt", weights_only=True)
    assert best["step"] == 1 and bool((best["weights"] == 0).all())  # the snapshot, not the live tensor
    io.teardown()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_failed_background_write_is_raised_by_the_next_call_and_by_teardown(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    io = AtomicCheckpointIO(background=True)
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "file" / "last.ckpt")  # returns before the write fails
    with pytest.raises(OSError):
        io.wait()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "file" / "last.ckpt")
    with pytest.raises(OSError):
        io.teardown()
    io.save_checkpoint({"a": torch.ones(2)}, tmp_path / "ok.ckpt")  # usable again after teardown
    io.teardown()
    assert torch.equal(torch.load(tmp_path / "ok.ckpt", weights_only=True)["a"], torch.ones(2))


def test_a_copy_is_a_hard_link_or_else_the_bytes(tmp_path, monkeypatch):
    atomic_save({"a": torch.arange(3)}, tmp_path / "best.ckpt")
    atomic_copy(tmp_path / "best.ckpt", tmp_path / "last.ckpt")
    assert (tmp_path / "last.ckpt").stat().st_ino == (tmp_path / "best.ckpt").stat().st_ino

    def no_links(source, target):
        raise OSError(1, "Operation not permitted")  # what FAT or some network file systems answer

    monkeypatch.setattr(os, "link", no_links)
    atomic_copy(tmp_path / "best.ckpt", tmp_path / "copy.ckpt")
    assert (tmp_path / "copy.ckpt").read_bytes() == (tmp_path / "best.ckpt").read_bytes()
    assert (tmp_path / "copy.ckpt").stat().st_nlink == 1
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.ckpt", tmp_path / "other.ckpt")
    assert not (tmp_path / "other.ckpt").exists()


def test_after_a_failed_save_the_link_and_removal_queued_behind_it_are_skipped(tmp_path, monkeypatch):
    """A disk that fills while best.ckpt is written must not leave last.ckpt linked to the previous best
    (a resume would go back in time) nor remove anything; the work asked for after the error runs."""
    io = AtomicCheckpointIO(background=True)
    io.save_checkpoint({"step": 1}, tmp_path / "best.ckpt")
    io.save_checkpoint({"step": 2}, tmp_path / "last.ckpt")
    io.wait()

    def disk_full(obj, path):
        time.sleep(0.2)  # the copy and removal below are queued while this write runs
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tasks.checkpoint_io.atomic_save", disk_full)
    io.save_checkpoint({"step": 3}, tmp_path / "best.ckpt")
    io.copy_checkpoint(tmp_path / "best.ckpt", tmp_path / "last.ckpt")
    io.remove_checkpoint(tmp_path / "best.ckpt")
    with pytest.raises(OSError, match="No space"):
        io.wait()  # drains the whole queue, then raises the failure once
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["step"] == 2
    assert torch.load(tmp_path / "best.ckpt", weights_only=True)["step"] == 1
    io.copy_checkpoint(tmp_path / "best.ckpt", tmp_path / "last.ckpt")  # asked for after the report: runs
    io.teardown()
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["step"] == 1


def test_a_snapshot_is_on_the_cpu_and_keeps_the_state_dicts_metadata():
    layer = torch.nn.BatchNorm2d(2)
    state = {"state_dict": layer.state_dict(), "optimizer_states": [{"state": {0: {"m": torch.ones(2)}}}]}
    copy = snapshot(state)
    assert copy["state_dict"]._metadata == layer.state_dict()._metadata  # module versions, as torch.save keeps them
    assert copy["state_dict"]["weight"].data_ptr() != layer.weight.data_ptr()
    assert torch.equal(copy["optimizer_states"][0]["state"][0]["m"], torch.ones(2))
