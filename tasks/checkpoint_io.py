"""Checkpoint files that are always whole: written to a temporary file, synced, then renamed, and
optionally written on a background thread while training goes on.

Lightning's `TorchCheckpointIO` serialises first and then writes the bytes straight to the final
path, so a kill or a full disk during the write leaves a truncated ``last.ckpt`` and no previous
checkpoint to fall back to. `AtomicCheckpointIO` writes through `zoo.atomic.write_atomic`: at every
moment the final path holds either the previous checkpoint or the new one.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from lightning_fabric.utilities.types import _PATH
from lightning_utilities.core.apply_func import apply_to_collection
from pytorch_lightning.plugins.io import TorchCheckpointIO

from zoo.atomic import link_atomic, write_atomic


def atomic_save(obj: Any, path: _PATH) -> None:
    """`torch.save` `obj` to the local `path` so that `path` is never seen half-written."""
    write_atomic(path, lambda file: torch.save(obj, file))


def atomic_copy(source: _PATH, path: _PATH) -> None:
    """Give ``path`` the content of the whole file ``source``: a hard link where the file system has
    them (no bytes written), else a copy; either way ``path`` is never seen half-written."""
    if not link_atomic(source, path):
        with open(source, "rb") as original:
            write_atomic(path, lambda file: shutil.copyfileobj(original, file))


def snapshot(checkpoint: Any) -> Any:
    """``checkpoint`` with every tensor copied to the CPU as it is now (training may change the originals,
    and a snapshot must not take GPU memory), each ``state_dict``'s ``_metadata`` (module versions) kept
    as `torch.save` would have written it."""
    copy = apply_to_collection(checkpoint, torch.Tensor, lambda tensor: tensor.detach().to("cpu", copy=True))
    _keep_metadata(checkpoint, copy)
    return copy


def _keep_metadata(original: Any, copy: Any) -> None:
    if isinstance(original, Mapping):
        if hasattr(original, "_metadata"):
            copy._metadata = original._metadata
        for key, value in original.items():
            _keep_metadata(value, copy[key])
    elif isinstance(original, list | tuple):
        for value, copied in zip(original, copy, strict=True):
            _keep_metadata(value, copied)


class _Batch:
    """The writes queued since the last failure was reported; one failure skips the rest of them."""

    failed = False


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local saves go through `atomic_save`; remote (fsspec) paths are
    saved as Lightning does.

    With ``background=True`` a local save copies the checkpoint's tensors to the CPU (`snapshot`, so
    that training can go on changing the weights) and leaves serialising and syncing the file to one
    writer thread; the fit goes on meanwhile. For a ResNet-18 with its AdamW moments the write took
    0.37 s on 2 cores, 3% of a 13 s epoch (docs/ablation.md). Saves, copies and removals run in the
    order they were asked for; at most `MAX_PENDING` snapshots wait at once (a save past that waits
    for the oldest), which bounds the memory to that many copies of the state. A failed write is
    raised by the next call, by `wait` or by `teardown` (which Lightning calls when a fit, validation
    or test ends, so every file is on disk once ``trainer.fit`` returns), and the work queued after
    it is skipped: a link or removal must not build on a checkpoint that was not written. Loading
    waits for pending writes first. A process killed outright (SIGKILL) loses the write in flight;
    the file it was replacing stays whole.
    """

    MAX_PENDING = 2

    def __init__(self, background: bool = False) -> None:
        super().__init__()
        self.background = background
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self._batch = _Batch()

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            self.wait()
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if self.background:
            while len(self._pending) >= self.MAX_PENDING:
                self._result(self._pending.popleft())
            checkpoint = snapshot(checkpoint)
        self._run(atomic_save, checkpoint, path)

    def copy_checkpoint(self, source: _PATH, path: _PATH) -> None:
        """Make the local ``path`` hold the checkpoint saved (or being saved) at ``source``, after it."""
        self._run(atomic_copy, source, path)

    def remove_checkpoint(self, path: _PATH) -> None:
        self._run(super().remove_checkpoint, path)

    def load_checkpoint(self, path: _PATH, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.wait()
        return super().load_checkpoint(path, *args, **kwargs)

    def wait(self) -> None:
        """Block until every save, copy and removal asked for so far is done or skipped; raise the first
        failure."""
        failure = None
        while self._pending:
            try:
                self._result(self._pending.popleft())
            except BaseException as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def teardown(self) -> None:
        try:
            self.wait()
        finally:
            self._pending.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _run(self, work: Callable[..., object], *args: Any) -> None:
        """Do ``work`` now, or queue it on the writer thread in background mode."""
        self._collect()
        if not self.background:
            self.wait()
            work(*args)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending.append(self._executor.submit(self._unless_failed, self._batch, work, *args))

    @staticmethod
    def _unless_failed(batch: _Batch, work: Callable[..., object], *args: Any) -> None:
        """On the writer thread: do ``work`` unless an earlier write of its batch failed."""
        if batch.failed:
            return
        try:
            work(*args)
        except BaseException:
            batch.failed = True
            raise

    def _result(self, future: Future) -> None:
        """Wait for ``future``; a failure is raised once, and the writes asked for after it run again."""
        try:
            future.result()
        except BaseException:
            if self._batch.failed:
                self._batch = _Batch()
            raise

    def _collect(self) -> None:
        """Drop finished work from the queue, raising the first failure among it."""
        while self._pending and self._pending[0].done():
            self._result(self._pending.popleft())
