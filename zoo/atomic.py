"""Files that are always whole: written to a temporary file next to the target, flushed and
fsynced, then renamed over it (`os.replace`, atomic on POSIX and Windows within one file system),
and the folder fsynced so that the rename survives a power cut. At every moment the target holds
either the previous content or the new one. Checkpoints, exported weights, predictions and bench
results all go through here. `link_atomic` gives a whole file a second name the same way, without
writing its bytes again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a binary file that becomes ``path`` only once it is complete and on disk."""

    def written(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _publish(path, written)
    return path


def link_atomic(source: str | Path, path: str | Path) -> bool:
    """Make ``path`` a hard link to the whole file ``source``, replacing what ``path`` held in one step.

    Both names then share one file, which stays as it is while both are only ever replaced through
    `write_atomic` or this function (each makes a new file and renames it), never written in place.
    Returns False where the link cannot be made (no such ``source``, or a file system without hard
    links, e.g. FAT); ``path`` then holds what it held.
    """
    try:
        _publish(Path(path), lambda temporary: os.link(source, temporary))
    except OSError:
        return False
    return True


def _publish(path: Path, make: Callable[[Path], object]) -> None:
    """Have ``make`` create the temporary file next to ``path``, rename it over ``path`` and make the
    rename durable; on any failure the temporary is removed and ``path`` is as it was."""
    temporary = path.with_name(f".{path.name}.tmp")  # one fixed name: a killed write leaves no growing litter
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()  # left by a killed write (os.link does not overwrite)
        make(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere the rename is as durable as it gets)."""
    if os.name == "posix":
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
