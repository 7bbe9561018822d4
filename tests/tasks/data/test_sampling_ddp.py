"""The resumable data order under DDP, end to end: a 2-process CPU `zoo fit --trainer.strategy ddp`
killed with SIGKILL mid-epoch (the whole process group, both ranks) and resumed with `--ckpt_path last`
ends with the weights of an uninterrupted run, bit for bit. The fits run as `zoo` commands because
Lightning's DDP launcher starts rank 1 by re-running the command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ZOO = str(Path(sys.executable).parent / "zoo")
STEPS_PER_EPOCH, EPOCHS, BATCH, RANKS = 24, 2, 4, 2  # a long epoch: room for a kill mid-epoch
TOTAL = STEPS_PER_EPOCH * EPOCHS


def _fit_args(root: Path, *more: str) -> list[str]:
    return [
        ZOO,
        "fit",
        "--config=classification/resnet",
        "--model.init_args.model_kwargs={layers: [1, 1, 1], widths: [4, 8, 8]}",
        "--model.init_args.num_media=0",
        "--data.init_args.image_size=16",
        f"--data.init_args.batch_size={BATCH}",
        f"--data.init_args.train_size={BATCH * RANKS * STEPS_PER_EPOCH}",
        "--data.init_args.val_size=8",
        "--data.init_args.num_workers=0",
        f"--trainer.max_epochs={EPOCHS}",
        "--trainer.accelerator=cpu",
        "--trainer.strategy=ddp",
        f"--trainer.devices={RANKS}",
        f"--trainer.default_root_dir={root}",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--checkpoint.every_n_train_steps=2",
        *more,
    ]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _finish(process: subprocess.Popen) -> None:
    try:
        output, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:  # a rank waiting on a dead peer: end the whole group
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"the DDP fit hung:\n{output[-3000:]}") from None
    assert process.returncode == 0, output[-3000:]


def _step(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["global_step"]
    except (OSError, RuntimeError, EOFError):
        return -1


def _kill_mid_epoch(root: Path, attempts: int = 3) -> int:
    """Start a fit in ``root`` and SIGKILL it once a mid-epoch step checkpoint exists; the step it saved.
    On a loaded machine the fit can outrun the polling and reach an epoch's end (or its own end) first:
    the kill then tests nothing, so the fit starts again from an empty folder, up to ``attempts`` times."""
    last = root / "checkpoints" / "last.ckpt"
    for _ in range(attempts):
        shutil.rmtree(root, ignore_errors=True)
        killed = _start(_fit_args(root))
        deadline = time.monotonic() + 300
        while killed.poll() is None and time.monotonic() < deadline and _step(last) < 2:
            time.sleep(0.01)
        os.killpg(killed.pid, signal.SIGKILL)  # both ranks, and any rendezvous helper
        killed.communicate()
        stopped = _step(last)
        if 2 <= stopped < TOTAL and stopped % STEPS_PER_EPOCH != 0:
            return stopped
    raise AssertionError(f"not killed mid-epoch in {attempts} attempts (last at step {stopped})")


def test_a_ddp_fit_killed_mid_epoch_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    reference, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    last = interrupted / "checkpoints" / "last.ckpt"
    uninterrupted = _start(_fit_args(reference))
    _kill_mid_epoch(interrupted)
    _finish(uninterrupted)

    _finish(_start(_fit_args(interrupted, "--ckpt_path=last")))
    state = torch.load(last, map_location="cpu", weights_only=True)
    expected = torch.load(reference / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == expected["global_step"] == TOTAL
    assert state["state_dict"].keys() == expected["state_dict"].keys()
    for name, value in expected["state_dict"].items():
        assert torch.equal(state["state_dict"][name], value), name
