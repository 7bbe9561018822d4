"""Tests for zoo.atomic: a write that fails midway leaves the previous file whole and no temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.atomic import write_atomic


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    assert write_atomic(target, lambda file: file.write(b"first")) == target
    write_atomic(target, lambda file: file.write(b"second"))
    assert target.read_bytes() == b"second" and sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_a_failing_write_keeps_the_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_atomic(target, lambda file: file.write(b"good"))

    def half_then_fail(file) -> None:
        file.write(b"ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
