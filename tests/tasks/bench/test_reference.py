"""`zoo bench --reference` on a tiny input: the sections run and the tables have their shape (never
a speed: ratios on a shared machine are for the README, not for asserts)."""

import pytest

from tasks.bench.cli import main
from tasks.bench.reference import alternate, train_memory


def _rows(table: str) -> list[list[str]]:
    return [line.strip("| ").split(" | ") for line in table.splitlines() if line.startswith("| ")]


def test_reference_tables_have_every_check(capsys: pytest.CaptureFixture) -> None:
    argv = ["--reference", "--models", "resnet18", "--image-size", "32", "--batch-size", "2", "--threads", "1"]
    main([*argv, "--warmup", "1", "--repeats", "1", "--rounds", "1", "--skip", "memory"])  # memory: see below
    ratios, _, flops = capsys.readouterr().out.partition("Achieved GFLOP/s")
    rows = _rows(ratios)
    assert rows[0] == ["check", "zoo", "reference", "ratio", "target", "met"]
    assert [r[0] for r in rows[1:]] == [
        "resnet18 inference, eager, zoo/torchvision",
        "resnet18 inference, eager, zoo/timm",
        "resnet18 training, eager, zoo/torchvision",
        "resnet18 training, eager, zoo/timm",
        "densenet121 inference, zoo fast path (channels_last)/torchvision eager",
        "Lightning overhead: resnet20 step in Trainer/plain loop (32 px, b32)",
        "data: synthetic shapes, augmented, 2 workers / resnet20 training",
    ]
    for row in rows[1:]:
        assert len(row) == 6 and float(row[3]) > 0 and row[4].split()[0] in (">=", "<=") and row[5] in ("yes", "**no**")
    flops_rows = _rows(flops)
    assert flops_rows[0] == ["model", "implementation", "mode", "img/s", "GFLOP/s", "of ceiling"]
    assert sorted(r[1:3] for r in flops_rows[1:]) == sorted(
        [impl, mode] for impl in ("timm", "torchvision", "zoo") for mode in ("inference", "training")
    )


def test_train_memory_reports_growth_and_speed() -> None:
    """What each fresh process of the memory check runs (here in-process, on a tiny model)."""
    growth, images_per_s = train_memory("resnet20", {"widths": [4, 4, 8]}, 4, 32, 1, 2, 1)
    assert growth > 0 and images_per_s > 0  # the activations kept for the backward pass


def test_alternate_swaps_who_goes_first_every_round() -> None:
    calls: list[str] = []
    results = alternate({k: lambda k=k: calls.append(k) or len(calls) for k in ("zoo", "ref")}, rounds=4)
    assert calls == ["zoo", "ref", "ref", "zoo", "zoo", "ref", "ref", "zoo"]
    assert results == {"zoo": [1, 4, 5, 8], "ref": [2, 3, 6, 7]}
