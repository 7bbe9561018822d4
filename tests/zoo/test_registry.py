"""Tests for zoo.registry: every registered name builds and runs, the 4 families x 3 tasks give the
right outputs and train every parameter, and bad names, overrides, tasks and inputs are explained."""

import pytest
import torch
from torch import nn

import zoo
from zoo import registry
from zoo.blocks import DenseLayer
from zoo.models import ResNet

NAMES = zoo.list_models()


def test_list_models():
    assert len(NAMES) == len(set(NAMES)) > 60
    assert zoo.list_models("resnet2*") == ["resnet200", "resnet20"]
    assert zoo.list_models(family="hourglass") == ["hourglass1", "hourglass2", "hourglass4", "hourglass8"]
    assert zoo.list_models("unet_*", family="resnet") == []
    for name in (
        "resnet18",
        "resnet1202",
        "plain56",
        "preact_resnet1001",
        "densenet121",
        "densenet264",
        "densenet_bc190_k40",
        "unet",
        "unet_same",
        "unet_resnet34",
        "unet_densenet121",
    ):
        assert name in NAMES
    assert zoo.TASKS == ("classification", "segmentation", "pose")


def test_get_spec_and_paper_configs():
    spec = zoo.get_spec("resnet20")
    assert isinstance(spec, zoo.ModelSpec)
    assert (spec.family, spec.native_task, spec.input_size) == ("resnet", "classification", (3, 32, 32))
    assert spec.kwargs["layers"] == [3, 3, 3] and spec.kwargs["shortcut"] == "A"
    assert zoo.get_spec("plain20").kwargs["plain"] is True
    assert zoo.get_spec("unet").input_size == (1, 572, 572)
    assert zoo.get_spec("hourglass8").native_task == "pose"


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="'resnet18'"):
        registry.register("resnet18", zoo.get_spec("resnet34"))
    assert zoo.get_spec("resnet18").kwargs["layers"] == [2, 2, 2, 2]


# ---------------------------------------------------------------- every name builds and runs


def expected_output(spec: zoo.ModelSpec, model: nn.Module, batch: int) -> tuple:
    _, h, w = spec.input_size
    if spec.native_task == "classification":
        return (batch, spec.kwargs.get("num_classes", 1000))
    if spec.native_task == "segmentation":
        if spec.kwargs.get("padding") == "valid":
            h, w = zoo.models.valid_output_size(h, 4), zoo.models.valid_output_size(w, 4)
        return (batch, model.num_classes, h, w)
    return (batch, 16, h // 4, w // 4)


def is_small(spec: zoo.ModelSpec) -> bool:
    """The CIFAR ResNets (at most 19.4M parameters) run faster for real than on the meta device."""
    return spec.cls is ResNet and spec.input_size == (3, 32, 32)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_model_builds_and_runs(name):
    spec = zoo.get_spec(name)
    if is_small(spec):
        # train mode: at initialisation eval-mode BatchNorm does not normalise, and deep nets overflow
        model, x = zoo.create_model(name).train(), torch.randn(2, *spec.input_size)
    else:
        with torch.device("meta"):
            model = zoo.create_model(name).eval()
        x = torch.empty(1, *spec.input_size, device="meta")
    with torch.no_grad():
        out = model(x)
    expected = expected_output(spec, model, len(x))
    if spec.family == "hourglass":
        assert isinstance(out, list) and len(out) == spec.kwargs["num_stacks"]
        assert all(o.shape == expected for o in out)
    else:
        assert out.shape == expected
    if x.device.type == "cpu":
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["unet_resnet18", "unet_resnet20", "unet_densenet40_k12", "unet_densenet121"])
def test_unet_on_a_backbone_predicts_the_segmentation_classes_by_default(name):
    # the backbone's own num_classes (10 for the CIFAR configs) is for its classifier, not the U-Net's head
    with torch.device("meta"):
        model = zoo.create_model(name)
    assert model.num_classes == registry.DEFAULT_SEG_CLASSES == model.head.out_channels


# ---------------------------------------------------------------- 4 families x 3 tasks

TINY = {
    "resnet20": ({}, 32),
    "resnet18": ({"widths": [4, 4, 8, 8]}, 64),
    "densenet40_k12": ({"block_config": (2, 2, 2)}, 32),
    "densenet121": ({"growth_rate": 4, "block_config": (1, 2, 1, 1), "num_init_features": 8}, 64),
    "unet_same": ({"base_width": 8}, 64),
    "hourglass2": ({"num_stacks": 2, "channels": 32}, 64),
}
TASK_OPTIONS = {"classification": {"num_classes": 5}, "segmentation": {"num_classes": 5}, "pose": {"num_joints": 6}}


def tiny_model(name: str, task: str) -> tuple[nn.Module, int]:
    overrides, size = TINY[name]
    extra = {"width": 8} if task == "pose" and zoo.get_spec(name).family in ("resnet", "densenet") else {}
    torch.manual_seed(0)
    return zoo.create_model(name, task=task, **overrides, **TASK_OPTIONS[task], **extra), size


@pytest.mark.parametrize("task", zoo.TASKS)
@pytest.mark.parametrize("name", list(TINY))
def test_family_task_outputs_and_every_parameter_trains(name, task):
    model, size = tiny_model(name, task)
    model.train()
    x = torch.randn(2, 3, size, size)
    out = model(x)
    expected = {"classification": (2, 5), "segmentation": (2, 5, size, size), "pose": (2, 6, size // 4, size // 4)}
    if zoo.get_spec(name).family == "hourglass" and task != "classification":
        assert isinstance(out, list) and len(out) == 2
        assert all(o.shape == expected[task] for o in out)
    else:
        assert isinstance(out, torch.Tensor) and out.shape == expected[task]
    outs = out if isinstance(out, list) else [out]
    sum(o.square().mean() for o in outs).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", ["unet_same", "resnet20", "hourglass2"])
def test_segmentation_output_has_the_input_size_for_odd_sizes(name):
    overrides, _ = TINY[name]
    model = zoo.create_model(name, task="segmentation", num_classes=3, **overrides).eval()
    size = (64, 128) if name == "hourglass2" else (37, 41)  # the hourglass needs multiples of 64
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    outs = out if isinstance(out, list) else [out]
    assert all(o.shape == (1, 3, *size) for o in outs)


def test_native_tasks():
    assert isinstance(zoo.create_model("hourglass1", channels=16), zoo.models.StackedHourglass)
    assert zoo.create_model("unet_same", base_width=4).head.out_channels == 2
    assert isinstance(zoo.create_model("resnet20"), ResNet)


# ---------------------------------------------------------------- overrides reach the model


def test_overrides_reach_every_block():
    model = zoo.create_model("resnet20", norm="group", shortcut="C", order="pre", num_classes=3)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.layer1[0].downsample is not None and model.layer1[0].order == "pre"
    assert model.fc.out_features == 3
    dense = zoo.create_model("densenet40_k12", memory_efficient=True, in_chans=1)
    assert dense.features.denseblock1.denselayer1.memory_efficient and dense.in_chans == 1
    unet = zoo.create_model("unet_same", base_width=4, norm="none", in_chans=1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in unet.modules()) and unet.in_chans == 1


@pytest.mark.parametrize(
    ("name", "kwargs"), [("resnet20", {}), ("unet_same", {"base_width": 4}), ("hourglass1", {"channels": 16})]
)
def test_classification_drop_rate_reaches_the_head(name, kwargs):
    model = zoo.create_model(name, task="classification", drop_rate=0.5, **kwargs)
    assert model.drop_rate == 0.5
    model.train()
    torch.manual_seed(0)
    pooled = torch.ones(64, model.num_features, 1, 1)
    assert (model.forward_head(pooled, pre_logits=True) == 0).any()


def test_densenet_drop_rate_is_per_layer_and_head_drop_rate_is_the_heads():
    # torchvision's meaning: drop_rate is the dropout after every dense layer
    model = zoo.create_model("densenet40_k12", drop_rate=0.2, head_drop_rate=0.5)
    assert all(layer.drop_rate == 0.2 for layer in model.modules() if isinstance(layer, DenseLayer))
    assert model.drop_rate == 0.5


# ---------------------------------------------------------------- errors


def test_unknown_name_suggests_close_names():
    with pytest.raises(KeyError, match="resnet51") as err:
        zoo.create_model("resnet51")
    assert "resnet50" in str(err.value) and "list_models" in str(err.value)


def test_unknown_override_names_the_key_and_a_suggestion():
    with pytest.raises(TypeError, match="'shortcuts'") as err:
        zoo.create_model("resnet18", shortcuts="A")
    assert "Did you mean shortcut" in str(err.value)


@pytest.mark.parametrize(
    ("name", "task", "key"),
    [
        ("resnet18", "classification", "num_joints"),
        ("resnet18", "pose", "num_classes"),
        ("hourglass1", "pose", "upsample_outputs"),
        ("unet", "segmentation", "encoder"),
    ],
)
def test_options_of_other_tasks_or_internal_ones_are_refused(name, task, key):
    with pytest.raises(TypeError, match=f"'{key}'"):
        zoo.create_model(name, task=task, **{key: 1})


def test_bad_task():
    with pytest.raises(ValueError, match="'detection'") as err:
        zoo.create_model("resnet18", task="detection")
    assert "classification" in str(err.value) and "pose" in str(err.value)


@pytest.mark.parametrize("name", list(TINY))
def test_wrong_channels_are_explained_for_every_family(name):
    model, size = tiny_model(name, zoo.get_spec(name).native_task)
    with pytest.raises(ValueError, match="in_chans=1") as err:
        model(torch.randn(1, 1, size, size))
    assert "3 input channels" in str(err.value) and "got 1" in str(err.value)


@pytest.mark.parametrize("task", zoo.TASKS)
def test_wrong_channels_raise_before_computation_on_the_biggest_resnet(task):
    with torch.device("meta"):
        model = zoo.create_model("resnet152", task=task)
    with pytest.raises(ValueError, match="in_chans"):
        model(torch.zeros(1, 1, 224, 224))  # a CPU batch would fail differently inside the meta model


def test_hourglass_input_not_divisible_by_64():
    model, _ = tiny_model("hourglass2", "pose")
    with pytest.raises(ValueError, match="64"):
        model(torch.randn(1, 3, 60, 60))


def test_valid_unet_input_names_572():
    model = zoo.create_model("unet", base_width=2)
    with pytest.raises(ValueError, match="572"):
        model(torch.zeros(1, 1, 570, 570))
