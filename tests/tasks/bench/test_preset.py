"""Presets are checked in full before any cell runs, and every problem names its cell."""

from pathlib import Path

import pytest

from tasks.bench.preset import PresetError, load_preset, parse_preset


@pytest.mark.parametrize("name", ["quick", "standard"])
def test_shipped_presets_are_valid(name: str) -> None:
    preset = load_preset(name)
    assert {c.task for c in preset.cells} == {"classification", "segmentation", "pose"}
    assert {c.model for c in preset.cells} >= {"resnet20", "densenet121", "unet_same"}
    assert len({c.cell_id for c in preset.cells}) == len(preset.cells)


def test_cell_settings_merge_defaults_task_and_cell(tiny) -> None:
    text = (
        tiny.header.replace("cells:", "tasks: {pose: {lr: 0.5, image_size: 64}}\ncells:") + tiny.hourglass + tiny.resnet
    )
    pose, cls = parse_preset(text).cells
    assert pose.cell_id == "pose/hourglass1-c8-d2" and pose.task_kwargs == {"lr": 0.5}
    assert pose.data_kwargs["image_size"] == 64 and cls.data_kwargs["image_size"] == 32
    assert cls.steps == 2 and cls.minutes is None and cls.budget == "2 steps"


def test_every_bad_cell_is_named_with_a_suggestion(tiny) -> None:
    cells = [
        "  - {model: resnet21, task: classification}\n",
        "  - {model: resnet20, task: clasification}\n",
        "  - {model: resnet20, task: classification, lrr: 0.1}\n",
        "  - {model: hourglass1, task: pose, model_kwargs: {channels: 8, depth: 4}}\n",
        "  - {model: resnet20, task: classification, minutes: 1, scheduler: cosine}\n",
    ]
    with pytest.raises(PresetError) as info:
        parse_preset(
            tiny.header.replace("steps: 2, ", "") + "".join(cells).replace("task: pose", "task: pose, steps: 2")
        )
    message = str(info.value)
    assert "no cell was run" in message
    assert "cell #1 (classification/resnet21)" in message and "resnet20" in message  # close names
    assert "cell #2" in message and "did you mean 'classification'" in message
    assert "cell #3" in message and "'lrr'" in message and "lr" in message
    assert "cell #4 (pose/hourglass1-c8-d4)" in message and "divisible by" in message  # caught by the meta dry run
    assert "cell #5" in message and "minutes" in message


def test_duplicate_cell_ids_and_missing_budget_are_rejected(tiny) -> None:
    with pytest.raises(PresetError, match="used twice"):
        parse_preset(tiny.header + tiny.resnet + tiny.resnet)
    with pytest.raises(PresetError, match="exactly one budget"):
        parse_preset(tiny.header.replace("steps: 2, ", "") + tiny.resnet)


def test_unknown_preset_name_suggests_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="Did you mean quick"):
        load_preset("quik")
    with pytest.raises(PresetError, match="does not exist"):
        load_preset(str(tmp_path / "missing.yaml"))


def test_data_settings_are_checked_before_any_cell_runs(tiny, tmp_path: Path, imagefolder: Path) -> None:
    cells = [
        f"  - {{model: resnet20, task: classification, source: imagefolder, root: {tmp_path / 'nowhere'}}}\n",
        f"  - {{model: resnet20, task: classification, source: imagenet, root: {imagefolder}}}\n",
        f"  - {{model: resnet20, task: classification, source: imagefolder, root: {imagefolder}, num_clases: 2}}\n",
        f"  - {{model: resnet20, task: classification, source: imagefolder, root: {imagefolder}, name: ok}}\n",
    ]
    with pytest.raises(PresetError) as info:
        parse_preset(tiny.header + "".join(cells))
    lines = [line.strip() for line in str(info.value).splitlines()[1:]]
    assert len(lines) == 3  # one line per problem, the good cell has none
    assert lines[0].startswith("cell #1 (classification/resnet20): root ") and "nowhere is not a folder" in lines[0]
    assert lines[1].startswith("cell #2") and "source='imagenet'" in lines[1] and "imagefolder" in lines[1]
    assert lines[2].startswith("cell #3") and "'num_clases'" in lines[2]


def test_a_cells_data_settings_reach_its_data_module(tiny, tmp_path: Path, maskfolder: Path) -> None:
    text = tiny.header.replace("cells:", "tasks: {segmentation: {source: maskfolder, num_classes: 3}}\ncells:")
    cell = "  - {model: unet_same, task: segmentation, root: maskfolder, model_kwargs: {base_width: 4}}\n"
    (segmentation,) = parse_preset(text + cell, base=maskfolder.parent).cells  # a relative root, from base
    assert segmentation.data == {"source": "maskfolder", "root": str(maskfolder)}
    module, data = segmentation.build()
    assert data.num_classes == module.num_classes == 3 and module.hparams_initial["num_classes"] == 3


def test_the_folders_preset_asks_for_its_paths() -> None:
    with pytest.raises(PresetError) as info:
        load_preset("folders")
    lines = [line.strip() for line in str(info.value).splitlines()[1:]]
    assert len(lines) == 12 and all("/path/to/" in line and "is not a folder" in line for line in lines)


def test_a_narrowed_cell_says_so_in_its_default_name(tiny) -> None:
    text = tiny.header + "".join(
        [
            "  - {model: densenet121, task: pose,"
            " model_kwargs: {growth_rate: 8, block_config: [3, 3, 3, 3], width: 64}}\n",
            "  - {model: resnet18, task: segmentation, model_kwargs: {widths: [16, 32, 64, 128], norm: group}}\n",
            "  - {model: resnet18, task: segmentation, model_kwargs: {widths: [8, 8, 8, 8]}, name: mine}\n",
            "  - {model: resnet18, task: segmentation}\n",
        ]
    )
    names = [cell.name for cell in parse_preset(text).cells]
    assert names == ["densenet121-k8-b3333-hw64", "resnet18-w16.32.64.128-normgroup", "mine", "resnet18"]


def test_trainer_settings_reach_the_cell_and_are_checked(tiny) -> None:
    text = tiny.header.replace("image_size: 32}", "image_size: 32, strategy: ddp}") + tiny.resnet.replace(
        "task: classification,", "task: classification, devices: 2, num_nodes: 2,"
    )
    (cell,) = parse_preset(text).cells
    assert cell.trainer_kwargs == {"devices": 2, "strategy": "ddp", "num_nodes": 2} and cell.processes == 4
    assert "devices" not in cell.data_kwargs and "strategy" not in cell.task_kwargs
    with pytest.raises(PresetError, match=r"devices must be an integer >= 1, got 'two'"):
        parse_preset(tiny.header + tiny.resnet.replace("task: classification,", "task: classification, devices: two,"))
