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

from tasks.checkpoint_io import AtomicCheckpointIO, atomic_save

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
