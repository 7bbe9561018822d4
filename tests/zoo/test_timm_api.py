"""timm's model contract on one small model per family, modelled on timm's own ``tests/test_models.py``
(forward, backward, ``reset_classifier``, ``num_features``, ``forward_intermediates`` with each
``indices`` form, feature extractors matching ``feature_info``), plus ``pretrained_cfg``,
``pretrained=True`` from a local file and the models in timm's registry (``zoo.timm_compat``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from timm.data import resolve_data_config

import zoo
from zoo.weights import save_weights

FAMILIES = {
    # name: (tiny options, input side); classification on each, as timm's tests build every model
    "resnet20": ({}, 32),  # CIFAR layout: 3 stages, no stem feature
    "resnet18": ({}, 64),  # ImageNet layout: stem feature at stride 2, then 4 stages
    "densenet40_k12": ({"block_config": (2, 2, 2)}, 32),
    "hourglass2": ({"channels": 16, "depth": 1}, 32),
    "unet_same": ({"base_width": 4, "depth": 3}, 32),
}
NUM_CLASSES = 7


def build(name: str, **options: object) -> torch.nn.Module:
    kwargs, _ = FAMILIES[name]
    return zoo.create_model(name, task="classification", num_classes=NUM_CLASSES, **kwargs, **options)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    mine, theirs = a.state_dict(), b.state_dict()
    return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def images(name: str, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(batch, 3, FAMILIES[name][1], FAMILIES[name][1])


@pytest.mark.parametrize("name", FAMILIES)
def test_forward_backward_and_every_parameter_learns(name):
    model = build(name)
    out = model(images(name))
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()
    out.mean().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("name", FAMILIES)
def test_reset_classifier_num_features_and_global_pool(name):
    model = build(name).eval()
    x = images(name)
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, model.num_features)
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)
    model.reset_classifier(3, "catavgmax")
    assert model(x).shape == (2, 3) and model.get_classifier().in_features == 2 * model.num_features
    pooled_max = build(name, global_pool="max").eval()
    features = pooled_max.forward_features(x)
    assert torch.equal(pooled_max.forward_head(features, pre_logits=True), features.amax(dim=(2, 3)))
    with pytest.raises(ValueError, match="needs num_classes=0"):
        build(name, global_pool="")


@pytest.mark.parametrize("name", FAMILIES)
def test_forward_intermediates_takes_each_indices_form(name):
    model = build(name).eval()
    x, count = images(name), len(model.feature_info)
    final, every = model.forward_intermediates(x)
    assert len(every) == count and torch.equal(final, model.forward_features(x))
    assert [f.shape[1] for f in every] == [info["num_chs"] for info in model.feature_info]
    assert [x.shape[-1] // f.shape[-1] for f in every] == [info["reduction"] for info in model.feature_info]
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    assert [torch.equal(a, b) for a, b in zip(last_two, every[-2:], strict=True)] == [True, True]
    chosen = model.forward_intermediates(x, indices=[0, -1], intermediates_only=True)
    assert torch.equal(chosen[0], every[0]) and torch.equal(chosen[1], every[-1])
    early_final, early = model.forward_intermediates(x, indices=(1,), stop_early=True)
    assert torch.equal(early_final, every[1]) and torch.equal(early[0], every[1])
    with pytest.raises(ValueError, match=f"has {count} feature maps.*out of range"):
        model.forward_intermediates(x, indices=[count])
    with pytest.raises(ValueError, match="out of range"):
        model.forward_intermediates(x, indices=count + 1)


@pytest.mark.parametrize("name", FAMILIES)
def test_features_only_matches_feature_info(name):
    kwargs, side = FAMILIES[name]
    x = images(name)
    extractor = zoo.create_model(name, features_only=True, **kwargs).eval()
    features = extractor(x)
    assert [f.shape[1] for f in features] == extractor.feature_info.channels()
    assert [side // f.shape[-1] for f in features] == extractor.feature_info.reduction()
    pick = zoo.create_model(name, features_only=True, out_indices=(0, -2), **kwargs)
    count = len(features)
    assert pick.feature_info.channels() == [extractor.feature_info.channels()[i] for i in (0, count - 2)]
    assert [f.shape[1] for f in pick(x)] == pick.feature_info.channels()
    assert len(zoo.create_model(name, features_only=True, out_indices=2, **kwargs)(x)) == 2
    with pytest.raises(ValueError, match="out of range"):
        zoo.create_model(name, features_only=True, out_indices=(count,), **kwargs)
    assert resolve_data_config(model=extractor)["input_size"][0] == 3


def test_pruned_layers_keep_the_features_they_feed():
    model = build("resnet18").eval()
    x = images("resnet18")
    kept = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
    assert model.prune_intermediate_layers([1, 2]) == [1, 2]
    assert not hasattr(model, "layer3") and len(model.feature_info) == 3
    pruned = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
    assert all(torch.equal(a, b) for a, b in zip(kept, pruned, strict=True))
    assert model.num_classes == 0 and model.num_features == 128


def test_grad_checkpointing_checkpoints_the_stages_and_gives_the_same_gradients(monkeypatch):
    import zoo.models.base

    calls = []

    def counted(fn, *args, **kwargs):
        calls.append(fn)
        return torch.utils.checkpoint.checkpoint(fn, *args, **kwargs)

    monkeypatch.setattr(zoo.models.base, "checkpoint", counted)
    model = build("resnet20").eval()
    x = images("resnet20")
    model(x).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    assert not calls  # off by default
    model.zero_grad()
    model.set_grad_checkpointing()
    model(x).sum().backward()
    assert len(calls) == 3  # one checkpoint per stage of the CIFAR ResNet
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(plain, model.parameters(), strict=True))


@pytest.mark.parametrize(
    "name, task, size, crop",
    [("resnet50", "classification", 224, 0.875), ("resnet20", "classification", 32, 1.0),
     ("unet", "segmentation", 572, 1.0), ("hourglass1", "pose", 256, 1.0)],
)  # fmt: skip
def test_every_model_carries_timm_pretrained_cfg(name, task, size, crop):
    with torch.device("meta"):  # no memory for the full-size models: only their configuration is read
        model = zoo.create_model(name, task=task)
    config = resolve_data_config(model=model)
    assert config["input_size"][1:] == (size, size) and config["crop_pct"] == crop
    assert len(config["mean"]) == config["input_size"][0] == model.in_chans
    assert model.default_cfg is model.pretrained_cfg and model.pretrained_cfg["first_conv"]
    assert model.pretrained_cfg["classifier"] and model.pretrained_cfg["num_classes"] > 0


def test_pretrained_loads_a_local_file_and_new_classes_start_fresh(tmp_path):
    source = zoo.create_model("resnet20")
    path = save_weights(source.state_dict(), tmp_path / "resnet20.safetensors", "resnet20", "classification", {})
    same = zoo.create_model("resnet20", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert same_weights(same, source)
    assert same.pretrained_cfg["file"] == str(path)
    fresh = zoo.create_model("resnet20", num_classes=3, pretrained=True, pretrained_cfg_overlay=dict(file=path))
    assert torch.equal(fresh.conv1.weight, source.conv1.weight) and fresh.fc.out_features == 3
    features = zoo.create_model("resnet20", features_only=True, pretrained=True, pretrained_cfg_overlay=dict(file=path))
    assert torch.equal(features.model.conv1.weight, source.conv1.weight)
    with pytest.raises(ValueError, match=r"archzoo downloads nothing.*pretrained_cfg_overlay=dict\(file=PATH\)"):
        zoo.create_model("resnet20", pretrained=True)


def test_pretrained_reads_torchvision_densenet_files_with_their_old_key_names(tmp_path):
    source = zoo.create_model("densenet40_k12", block_config=(2, 2, 2))
    legacy = {  # torchvision's published file: "norm.1" for "norm1", and no BN step counts (torch < 0.4.1)
        k.replace(".norm1.", ".norm.1.").replace(".conv1.", ".conv.1."): v
        for k, v in source.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert any(".norm.1." in k for k in legacy)
    torch.save(legacy, tmp_path / "densenet.pth")
    loaded = zoo.create_model(
        "densenet40_k12",
        block_config=(2, 2, 2),
        pretrained=True,
        pretrained_cfg_overlay=dict(file=tmp_path / "densenet.pth"),
    )
    assert same_weights(loaded, source)


def test_timm_builds_archzoo_models_by_their_prefixed_names():
    names = timm.list_models("archzoo_*")
    assert len(names) == len(zoo.list_models()) and "archzoo_unet_resnet34" in names
    model = timm.create_model("archzoo_resnet20", num_classes=10)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert resolve_data_config(model=model)["input_size"] == (3, 32, 32)
    extractor = timm.create_model("archzoo_densenet40_k12", features_only=True, out_indices=(1, 2))
    assert extractor.feature_info.reduction() == [2, 4]
    with pytest.raises(ValueError, match="no pretrained tags"):
        timm.create_model("archzoo_resnet20", pretrained_cfg="in1k")


def test_zoo_models_run_without_importing_timm_and_register_when_it_loads():
    code = (
        "import sys, torch, zoo; net = zoo.create_model('resnet20'); net(torch.randn(1, 3, 32, 32)); "
        "net.forward_intermediates(torch.randn(1, 3, 32, 32)); assert 'timm' not in sys.modules; "
        "import timm; print(timm.is_model('archzoo_resnet20'), timm.is_model('resnet20'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False"]  # timm's own names are not taken


def test_the_readme_timm_snippet_runs_unchanged(capsys):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code = readme[readme.index("### With timm") :].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md, With timm", "exec"), {})
    assert capsys.readouterr().out.strip() == "[64, 128, 256, 512] [4, 8, 16, 32]"
