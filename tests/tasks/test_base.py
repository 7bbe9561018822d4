"""Tests for tasks.base.ZooTask: argument checks, output sizes from the data module, the optimiser and LR
schedules, the NaN guard and last_output."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from tasks import ClassificationTask, PoseTask, SegmentationTask
from tasks.base import _head
from tasks.data import ClassificationData, PoseData, SegmentationData
from tasks.heatmaps import last_output

TINY = {"image_size": 32, "batch_size": 8, "train_size": 16, "val_size": 8}


# --- arguments -----------------------------------------------------------------------------------


def test_unknown_optimizer_scheduler_and_model_are_named():
    with pytest.raises(ValueError, match="'adam'.*sgd, adamw"):
        ClassificationTask(model="resnet20", optimizer="adam")
    with pytest.raises(ValueError, match="'linear'.*cosine, step, onecycle, none"):
        ClassificationTask(model="resnet20", scheduler="linear")
    with pytest.raises(KeyError, match="resnet21"):
        ClassificationTask(model="resnet21")
    with pytest.raises(KeyError, match="unet_sam"):
        SegmentationTask(model="unet_sam")


# --- output sizes from the data --------------------------------------------------------------------


def test_num_classes_from_the_data_module_is_saved_in_hparams():
    data = ClassificationData(**TINY)
    task = ClassificationTask(model="resnet20")
    assert task.net is None and task.hparams.num_classes is None
    with pytest.raises(RuntimeError, match="needs its output size"):
        task.configure()

    task.configure_from_data(data)
    task.configure()
    assert task.num_classes == task.hparams["num_classes"] == data.num_classes == 10
    assert task.class_names == task.hparams["class_names"] == data.class_names
    assert task(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_setup_reads_the_data_module_of_the_trainer():
    data = PoseData(**TINY)
    task = PoseTask(model="hourglass1", model_kwargs={"channels": 16, "depth": 2})
    task.trainer = SimpleNamespace(datamodule=data)
    task.setup("fit")
    assert task.num_joints == task.hparams["num_joints"] == 15
    assert task.hparams["flip_pairs"] == [tuple(p) for p in data.flip_pairs] != []
    assert task.hparams["skeleton"] == [tuple(p) for p in data.skeleton]
    assert task.hparams["model_kwargs"] == {"channels": 16, "depth": 2, "in_chans": 3}
    assert last_output(task(torch.zeros(1, 3, 32, 32))).shape == (1, 15, 8, 8)


def test_setup_rebuilds_a_model_built_for_other_input_channels():
    data = SimpleNamespace(num_classes=4, class_names=list("abcd"), in_chans=1)
    task = ClassificationTask(model="resnet20", num_classes=4)
    assert task.net.in_chans == 3
    task.trainer = SimpleNamespace(datamodule=data)
    task.setup("fit")
    assert task.net.in_chans == 1 and task.hparams["model_kwargs"]["in_chans"] == 1
    assert task(torch.zeros(2, 1, 32, 32)).shape == (2, 4)


def test_setup_without_data_or_sizes_says_what_is_missing():
    task = SegmentationTask(model="unet_same", model_kwargs={"base_width": 4})
    task.trainer = SimpleNamespace(datamodule=None)
    with pytest.raises(RuntimeError, match="SegmentationTask needs its output size"):
        task.setup("fit")


@pytest.mark.parametrize(
    ("make_task", "make_data", "fix"),
    [
        (
            lambda: ClassificationTask(model="resnet20", num_classes=5),
            lambda: ClassificationData(**TINY),
            "--model.init_args.num_classes 10",
        ),
        (
            lambda: SegmentationTask(model="unet_same", num_classes=3, model_kwargs={"base_width": 4}),
            lambda: SegmentationData(**TINY),
            "--model.init_args.num_classes 6",
        ),
        (
            lambda: PoseTask(model="hourglass1", num_joints=4, model_kwargs={"channels": 16, "depth": 2}),
            lambda: PoseData(**TINY),
            "--model.init_args.num_joints 15",
        ),
    ],
    ids=["classification", "segmentation", "pose"],
)
def test_output_size_that_contradicts_the_data_raises_with_the_fix(make_task, make_data, fix):
    task = make_task()
    with pytest.raises(ValueError, match=fix):
        task.configure_from_data(make_data())


# --- optimiser and schedule ------------------------------------------------------------------------


def _optimizer(task, total_steps: int):
    task.trainer = SimpleNamespace(estimated_stepping_batches=total_steps)
    return task.configure_optimizers()


def _lrs(config: dict, steps: int) -> list[float]:
    """The LR of the first parameter group at each of ``steps`` training steps."""
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_no_weight_decay_on_norms_and_biases():
    task = ClassificationTask(
        model="resnet20", num_classes=10, optimizer="sgd", weight_decay=5e-4, lr=0.1, momentum=0.9
    )
    config = _optimizer(task, 100)
    opt = config["optimizer"]
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert decay["params"] and all(p.ndim > 1 for p in decay["params"])
    assert no_decay["params"] and all(p.ndim <= 1 for p in no_decay["params"])
    assert {id(p) for p in decay["params"] + no_decay["params"]} == {id(p) for p in task.net.parameters()}
    assert config["lr_scheduler"]["interval"] == "step"

    task = ClassificationTask(model="resnet20", num_classes=10, optimizer="adamw", weight_decay=0.05, scheduler="none")
    config = _optimizer(task, 100)
    assert isinstance(config["optimizer"], torch.optim.AdamW) and "lr_scheduler" not in config
    assert [g["weight_decay"] for g in config["optimizer"].param_groups] == [0.05, 0.0]

    task = ClassificationTask(
        model="resnet20", num_classes=10, optimizer="sgd", momentum=0.0
    )  # Nesterov needs momentum
    assert _optimizer(task, 100)["optimizer"].defaults["nesterov"] is False


def test_weight_decay_on_norms_and_biases_too_when_asked():
    task = ClassificationTask(model="resnet20", num_classes=10, weight_decay=0.05, decay_norms_and_biases=True)
    decay, no_decay = _optimizer(task, 100)["optimizer"].param_groups
    assert decay["weight_decay"] == 0.05 and any(p.ndim == 1 for p in decay["params"]) and not no_decay["params"]
    assert {id(p) for p in decay["params"]} == {id(p) for p in task.net.parameters()}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_one_cycle_rises_to_the_learning_rate_at_30_percent_then_anneals(optimizer):
    task = ClassificationTask(model="resnet20", num_classes=10, lr=0.1, scheduler="onecycle", optimizer=optimizer)
    lrs = _lrs(_optimizer(task, 100), 100)
    assert lrs[0] == pytest.approx(0.1 / 25)  # torch's div_factor
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 29
    assert all(a <= b for a, b in zip(lrs[:29], lrs[1:30], strict=True))
    assert all(a >= b for a, b in zip(lrs[29:], lrs[30:], strict=False)) and lrs[-1] < 1e-4


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    task = ClassificationTask(model="resnet20", num_classes=10, lr=0.1, scheduler="cosine", warmup_steps=10)
    lrs = _lrs(_optimizer(task, 100), 100)
    assert lrs[:10] == pytest.approx([0.1 * (i + 1) / 10 for i in range(10)])
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[55] == pytest.approx(0.05)  # half way through the 90 steps after warm-up
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 89 / 90)))
    assert lrs[-1] < 1e-3 * 0.1


def test_warmup_longer_than_training_is_capped():
    task = ClassificationTask(model="resnet20", num_classes=10, lr=0.1, scheduler="cosine", warmup_steps=1000)
    lrs = _lrs(_optimizer(task, 10), 10)
    assert lrs[:9] == pytest.approx([0.1 * (i + 1) / 9 for i in range(9)])  # the peak is reached


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    task = ClassificationTask(model="resnet20", num_classes=10, lr=0.1, scheduler="step")
    lrs = _lrs(_optimizer(task, 100), 100)
    assert lrs[0] == lrs[49] == pytest.approx(0.1)
    assert lrs[50] == lrs[74] == pytest.approx(0.01)
    assert lrs[75] == lrs[99] == pytest.approx(0.001)


# --- the NaN guard ---------------------------------------------------------------------------------


class _Snapshot(pl.Callback):
    """The model's state after every completed training step."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, quiet_trainer):
    torch.manual_seed(0)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    images[4:6, :, 3, 3] = float("nan")  # the second batch of 4
    loader = DataLoader(TensorDataset(images, labels), batch_size=4)
    task = ClassificationTask(model="resnet20", num_classes=10, lr=0.05)
    snapshot = _Snapshot()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=1)
    trainer = quiet_trainer(max_steps=4, enable_checkpointing=True, callbacks=[snapshot, checkpoint])

    with pytest.raises(FloatingPointError, match=r"is nan at global step 1 \(epoch 0, batch 1\)"):
        trainer.fit(task, loader)

    assert len(snapshot.states) == 1  # the NaN step never completed
    saved = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 1
    state = saved["state_dict"]
    assert state.keys() == snapshot.states[0].keys()
    for name, value in state.items():
        assert torch.isfinite(value.float()).all(), name
        assert torch.equal(value, snapshot.states[0][name]), name
    initial = ClassificationTask(model="resnet20", num_classes=10)  # the good step did train
    assert not torch.equal(state["net.fc.weight"], initial.state_dict()["net.fc.weight"])
    # in memory too: the NaN batch's BatchNorm statistics were rolled back, so the task can go on
    for name, value in task.state_dict().items():
        assert torch.equal(value, snapshot.states[0][name]), name


def test_training_step_raises_on_an_infinite_loss():
    task = ClassificationTask(model="resnet20", num_classes=10)
    task.trainer = SimpleNamespace(global_step=7, current_epoch=2)
    task.compute_loss = lambda output, target, images: output.sum() * float("inf")
    with pytest.raises(FloatingPointError, match="global step 7 .epoch 2, batch 3"):
        task.training_step((torch.randn(2, 3, 32, 32), torch.tensor([0, 1])), 3)


# --- helpers ---------------------------------------------------------------------------------------


def test_last_output_takes_the_last_stack():
    a, b = torch.zeros(1), torch.ones(1)
    assert last_output([a, b]) is b
    assert last_output((a, b)) is b
    assert last_output(a) is a


def test_head_slices_tensors_lists_and_dicts():
    x = torch.arange(10)
    out = _head({"keypoints": x, "stacks": [x, x + 1]}, 3)
    assert out["keypoints"].tolist() == [0, 1, 2]
    assert [t.tolist() for t in out["stacks"]] == [[0, 1, 2], [1, 2, 3]]
