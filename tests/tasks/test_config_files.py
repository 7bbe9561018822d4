"""The built-in configs: listed, found by name from any folder, described."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.cli import main
from tasks.config_files import config_root, describe, find_config, list_configs

REPO = Path(__file__).resolve().parents[2]


def test_every_yaml_of_the_repositorys_configs_is_a_built_in_config() -> None:
    expected = sorted(
        p.relative_to(REPO / "configs").with_suffix("").as_posix() for p in REPO.glob("configs/**/*.yaml")
    )
    assert list_configs() == expected and len(expected) == 12 + 3
    assert list_configs("bench") == ["bench/folders", "bench/quick", "bench/standard"]


def test_a_name_a_configs_path_or_a_users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: configs/... does not exist here
    resnet = config_root() / "classification" / "resnet.yaml"
    assert find_config("classification/resnet") == resnet
    assert find_config("configs/classification/resnet.yaml") == resnet  # the README's paths work anywhere
    mine = tmp_path / "mine.yaml"
    mine.write_text("seed_everything: 1\n")
    assert find_config("mine.yaml").resolve() == mine
    with pytest.raises(FileNotFoundError, match="Did you mean classification/resnet.*zoo configs"):
        find_config("classification/resnt")


def test_descriptions_are_the_first_sentence_or_the_presets_description() -> None:
    assert (
        describe("classification/resnet")
        == "ResNet-20 (He et al. 2015, sec. 4.2), the CIFAR layout, on the synthetic shapes."
    )
    assert describe("bench/quick").startswith("4 families x 3 tasks")


def test_zoo_configs_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    main(["configs"])
    out = capsys.readouterr().out
    assert "| `segmentation/unet` | U-Net (Ronneberger et al. 2015)" in out and "| `bench/folders` |" in out


def test_an_unknown_config_name_stops_with_close_names() -> None:
    with pytest.raises(SystemExit, match="zoo fit: No config file 'pose/hourglas'.*Did you mean pose/hourglass"):
        main(["fit", "--config", "pose/hourglas"])
