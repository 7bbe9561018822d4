"""Tests for zoo.weights and create_model(weights=...): files that would run code when unpickled are
refused and nothing from them runs; weights that do not fit name the model and the offending keys;
torchvision weights and safetensors exports load and give the same outputs."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import zoo
from zoo import load_model
from zoo.weights import (
    UnsafeFileError,
    WeightsMismatchError,
    load_weights,
    read_metadata,
    read_torch_file,
    read_weights,
    save_weights,
)


def craft(path: Path, payload: object, kind: str) -> Path:
    """A state dict plus ``payload`` (its unpickling writes a marker file), saved as ``kind``."""
    content = {"fc.weight": torch.zeros(2, 2), "payload": payload}
    if kind == "torch":
        torch.save(content, path)
    elif kind == "legacy torch":
        torch.save(content, path, _use_new_zipfile_serialization=False)
    else:
        with path.open("wb") as file:
            pickle.dump(content, file)
    return path


KINDS = ["torch", "legacy torch", "plain pickle"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_crafted_file_does_run_code_when_unpickled_without_weights_only(tmp_path, payload, kind):
    """The control: without weights_only the file writes its marker, so the refusals below are real."""
    path, marker = craft(tmp_path / "evil.pt", payload, kind), payload.marker
    if kind == "plain pickle":
        with path.open("rb") as file:
            pickle.load(file)
    else:
        torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the plain pickle's; torch refuses it anyway
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "load",
    [
        read_torch_file,
        read_weights,
        lambda path: load_weights(torch.nn.Linear(2, 2), path),
        lambda path: zoo.create_model("resnet20", weights=path),
    ],
    ids=["read_torch_file", "read_weights", "load_weights", "create_model"],
)
def test_a_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path, payload, kind, load):
    path, marker = craft(tmp_path / "sent.pth", payload, kind), payload.marker
    with pytest.raises(UnsafeFileError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message and "weights_only=True" in message
    assert "trust" in message and "safetensors" in message and "zoo export" in message
    assert "Nothing from the file was run" in message
    assert not marker.exists()


def test_a_safetensors_file_named_like_a_pickle_and_a_pickle_named_safetensors(tmp_path, payload):
    state = zoo.create_model("resnet20").state_dict()
    renamed = tmp_path / "weights.pt"
    save_file(state, str(renamed))  # read by content, not by name
    load_weights(zoo.create_model("resnet20"), renamed)
    disguised = craft(tmp_path / "weights.safetensors", payload, "torch")
    with pytest.raises(UnsafeFileError, match="weights.safetensors"):
        read_weights(disguised)
    assert not payload.marker.exists()


def test_missing_damaged_and_wrong_content_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        read_weights(tmp_path / "nothing.pt")
    good = tmp_path / "good.safetensors"
    save_weights(zoo.create_model("resnet20").state_dict(), good, "resnet20", "classification", {})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.safetensors is not a readable safetensors file"):
        read_weights(truncated)
    checkpoint = tmp_path / "whole.pt"
    torch.save(zoo.create_model("resnet20").state_dict(), checkpoint)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match="cut.pt is not a readable torch file"):
        read_weights(cut)
    a_list = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], a_list)
    with pytest.raises(ValueError, match="list.pt holds a list, not a state dict"):
        read_weights(a_list)
    lightning = tmp_path / "last.ckpt"
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": {}}, lightning)
    with pytest.raises(ValueError, match=r"Lightning checkpoint.*zoo export .*last.ckpt .*last.safetensors"):
        read_weights(lightning)


def test_a_state_dict_entry_of_a_checkpoint_dict_is_used(tmp_path):
    state = zoo.create_model("resnet20").state_dict()
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": state, "epoch": 3}, path)
    assert read_weights(path).keys() == state.keys()


# ---------------------------------------------------------------- weights that do not fit


def test_another_architecture_names_the_model_and_the_first_keys_of_each_kind():
    resnet18 = zoo.create_model("resnet18")
    with torch.device("meta"):
        other = zoo.create_model("resnet34", num_classes=10).state_dict()
    with pytest.raises(WeightsMismatchError) as error:
        load_weights(resnet18, other, name="resnet18")
    message = str(error.value)
    unexpected = [k for k in other if k not in resnet18.state_dict()]
    assert message.startswith("The state dict does not fit resnet18: unexpected ")
    assert ", ".join(unexpected[:5]) + f", ... ({len(unexpected) - 5} more)" in message
    assert "fc.weight (10, 512) vs (1000, 512)" in message and "fc.bias (10,) vs (1000,)" in message
    assert "missing" not in message  # resnet34 has every key of resnet18


def test_missing_and_extra_keys_are_listed_with_the_count_of_the_rest(tmp_path):
    model = zoo.create_model("resnet18")
    state = dict(model.state_dict())
    gone = [k for k in state if k.startswith("layer4.1.")]
    for key in gone:
        del state[key]
    state["head.weight"] = torch.zeros(1)
    path = tmp_path / "partial.safetensors"
    save_weights(state, path, "resnet18", "classification", {})
    with pytest.raises(WeightsMismatchError) as error:
        zoo.create_model("resnet18", weights=path)
    message = str(error.value)
    assert f"The weights file {path} (exported from resnet18) does not fit resnet18 (classification)" in message
    assert f"missing {', '.join(gone[:5])}, ... ({len(gone) - 5} more); unexpected head.weight." in message
    assert "num_classes" in message  # how to fix it


def test_weights_from_another_task_say_what_they_were_exported_from(tmp_path):
    pose = zoo.create_model("hourglass1", channels=16, depth=2, num_joints=3)
    path = save_weights(pose.state_dict(), tmp_path / "pose.safetensors", "hourglass1", "pose", {"channels": 16})
    with pytest.raises(WeightsMismatchError, match=r"exported from hourglass1\) does not fit resnet20 \(classif"):
        zoo.create_model("resnet20", weights=path)


# ---------------------------------------------------------------- weights that fit


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_torchvision_weights_load_through_create_model(tmp_path, name, fmt):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "torch":
        torch.save(reference.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    ours = zoo.create_model(name, weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-5)


def test_an_export_rebuilds_the_same_model(tmp_path):
    options = {"base_width": 4, "depth": 2, "num_classes": 3, "decoder_channels": [8, 4]}
    torch.manual_seed(0)
    model = zoo.create_model("unet_same", task="segmentation", **options).eval()
    path = save_weights(model.state_dict(), tmp_path / "unet.safetensors", "unet_same", "segmentation", options)
    assert read_metadata(path)["archzoo.model"] == "unet_same"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.safetensors"]  # no partial file left
    rebuilt = load_model(path).eval()
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_load_model_needs_the_export_metadata(tmp_path):
    path = tmp_path / "bare.safetensors"
    save_file(zoo.create_model("resnet20").state_dict(), str(path))
    with pytest.raises(ValueError, match=r"no archzoo.model, .* metadata.*create_model\(name, weights=path\)"):
        load_model(path)
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        save_weights({}, tmp_path / "x.safetensors", "resnet20", "classification", {"norm": object()})
