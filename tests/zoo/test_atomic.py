"""Tests for zoo.atomic: a write that fails midway leaves the previous file whole and no temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.atomic import link_atomic, write_atomic


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


def test_a_link_shares_the_file_and_keeps_it_when_the_source_is_replaced(tmp_path: Path) -> None:
    source, target = tmp_path / "best.ckpt", tmp_path / "last.ckpt"
    write_atomic(source, lambda file: file.write(b"epoch 1"))
    write_atomic(target, lambda file: file.write(b"stale"))
    assert link_atomic(source, target)
    assert target.read_bytes() == b"epoch 1" and target.stat().st_ino == source.stat().st_ino
    write_atomic(source, lambda file: file.write(b"epoch 2"))  # a new best: a new file under the old name
    assert target.read_bytes() == b"epoch 1" and source.read_bytes() == b"epoch 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_link_to_a_missing_file_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    write_atomic(target, lambda file: file.write(b"kept"))
    assert not link_atomic(tmp_path / "missing.ckpt", target)
    assert target.read_bytes() == b"kept" and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
