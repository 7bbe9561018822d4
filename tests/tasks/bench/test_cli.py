"""`zoo bench` arguments: what it needs, and which combinations it refuses, before any work."""

from pathlib import Path

import pytest

from tasks.bench.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "needs --preset"),
        (["--preset", "quik"], "Did you mean quick"),
        (["--resume", "DIR", "--preset", "quick"], "leave out --preset"),
        (["--resume", "no/such/folder"], "not a bench run folder"),
        (["--preset", "quick", "--batch-size", "0"], "batch_size must be >= 1"),
        (["--threads", "0", "--preset", "quick"], "--threads must be >= 1"),
        (["--reference", "--models", "resnet20"], "no torchvision or timm model"),
        (["--reference", "--models", "resnet19"], "Did you mean"),
    ],
)
def test_bad_arguments_exit_with_the_fix(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert message in str(exit_.value.code)


def test_an_existing_bench_folder_is_not_overwritten(tmp_path: Path, tiny) -> None:
    preset = tiny.write(tmp_path, tiny.resnet)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "bench.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", str(preset), "--out", str(tmp_path / "out")])
    assert "--resume" in str(exit_.value.code)
