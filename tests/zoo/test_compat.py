"""Tests for zoo.compat: every registered name is measured through a representative that builds on each
of its tasks, a failing check is recorded as "no: <error>" instead of stopping the table, and the
shipped table is what `zoo models --compat` prints."""

from __future__ import annotations

import json

import pytest
import torch

import zoo
from tasks.cli import main
from zoo import compat
from zoo.compat import COMPAT_FILE, REPRESENTATIVES, measure, representative_of


def test_every_registered_name_maps_to_a_representative() -> None:
    known = {rep.name for rep in REPRESENTATIVES}
    for name in zoo.list_models():
        assert representative_of(name) in known, name


@pytest.mark.parametrize("rep", REPRESENTATIVES, ids=lambda rep: rep.name)
def test_each_representative_builds_on_its_tasks(rep: compat.Representative) -> None:
    for task in rep.tasks:
        extra = {"width": 8} if task == "pose" and zoo.get_spec(rep.model).family in ("resnet", "densenet") else {}
        model = zoo.create_model(rep.model, task=task, **rep.kwargs, **compat.OUTPUTS[task], **extra)
        assert sum(p.numel() for p in model.parameters()) < 250_000, "full-size models have millions"


def test_a_failing_check_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot trace this\nsecond line")

    monkeypatch.setattr(torch, "compile", refuse)
    monkeypatch.setattr("zoo.export.export_program", refuse)
    results = measure(REPRESENTATIVES[2], "classification")
    assert results["torch.export"] == "no: RuntimeError: cannot trace this"
    assert results["torch.compile"] == "no: RuntimeError: cannot trace this"
    assert results["onnx export"] == "yes" and results["onnxruntime parity"] == "yes"


def test_the_shipped_table_covers_every_representative_and_zoo_models_prints_it(capsys) -> None:
    rows = json.loads(COMPAT_FILE.read_text())
    assert {(r["representative"], r["task"]) for r in rows} == {
        (rep.name, task) for rep in REPRESENTATIVES for task in rep.tasks
    }
    assert all(set(compat.CHECKS) <= set(row) for row in rows)
    main(["models", "--compat"])
    printed = capsys.readouterr().out
    assert printed.count("\n") >= len(rows) + 2
    for rep in REPRESENTATIVES:
        assert f"| {rep.name} |" in printed


def test_re_measuring_names_an_unknown_representative() -> None:
    with pytest.raises(SystemExit, match=r"unknown representatives \['unet tiny'\]; use \['resnet basic'"):
        compat.measure_all(["unet tiny"])


def test_named_representatives_are_measured_and_the_others_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    measured = []

    def fake(rep: compat.Representative, task: str) -> dict[str, str]:
        measured.append((rep.name, task))
        return dict.fromkeys(compat.CHECKS, "no: measured again")

    monkeypatch.setattr(compat, "measure", fake)
    rows = compat.measure_all(["resnet basic", "unet bilinear"])
    assert measured == [
        (name, task)
        for name in ("resnet basic", "unet bilinear")
        for task in REPRESENTATIVES[[r.name for r in REPRESENTATIVES].index(name)].tasks
    ]
    shipped = {(r["representative"], r["task"]): r for r in json.loads(COMPAT_FILE.read_text())}
    for row in rows:
        again = row["torch.export"] == "no: measured again"
        assert again == (row["representative"] in ("resnet basic", "unet bilinear"))
        assert again or row == shipped[row["representative"], row["task"]]
    assert "resnet18" in rows[0]["names"] and len(rows) == len(shipped)
    measured.clear()
    assert len(compat.measure_all()) == len(shipped) == len(measured)  # no names: every row measured
