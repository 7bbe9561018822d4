"""benchmarks/vs_peers.py: archzoo's side trains the peers' architecture (not the task config's own
model), and one tiny run through its command line returns both sides' metric and time per epoch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import zoo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vs_peers():
    spec = importlib.util.spec_from_file_location("vs_peers", REPO / "benchmarks" / "vs_peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["vs_peers"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["vs_peers"]


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("task", "peer", "outputs", "tolerance"),
    [("classification", "torchvision", 10, 0.0), ("pose", "simplebaseline", 5, 0.0), ("segmentation", "smp", 11, 0.01)],
)
def test_archzoo_side_is_the_peers_network(vs_peers, tmp_path: Path, task, peer, outputs, tolerance) -> None:
    """The classification config trains resnet20 and the pose config narrows the head to 128 channels;
    the harness must compare resnet18 with the peer's own widths (smp's U-Net decoder differs in detail:
    its parameter count is within 1%)."""
    args = vs_peers.parse_args(["--task", task, "--data", "synthetic", "--epochs", "1"])
    cli = vs_peers.zoo_cli(task, vs_peers.zoo_fit_args(args, seed=0), tmp_path)
    hp = cli.model.hparams
    assert (hp.model, dict(hp.model_kwargs or {})) == ("resnet18", {})
    key = "num_joints" if task == "pose" else "num_classes"
    ours = count(zoo.create_model(hp.model, task=task, **{key: outputs}))
    theirs = count(vs_peers.peer_model(peer, outputs))
    assert abs(ours - theirs) <= tolerance * theirs, (ours, theirs)


def test_a_tiny_comparison_reports_both_sides_per_epoch(vs_peers, tmp_path: Path, capsys) -> None:
    tiny = "--task classification --peers torchvision --epochs 2 --train-size 32 --val-size 16 --batch-size 16"
    runs = vs_peers.main([*tiny.split(), "--image-size", "32", "--out", str(tmp_path / "runs.json")])
    assert set(runs) == {"archzoo", "torchvision"}
    for side in runs.values():
        (epochs,) = side  # one seed
        assert len(epochs) == 2
        assert all(0.0 <= metric <= 1.0 for metric, _ in epochs)
        assert 0 < epochs[0][1] < epochs[1][1]  # seconds since the start grow
    printed = capsys.readouterr().out
    assert "archzoo val/acc1" in printed and "time ratio" in printed
    assert (tmp_path / "runs.json").exists()


def test_the_sides_take_turns_going_first(vs_peers, monkeypatch) -> None:
    """A machine that slows down during a run must not favour one side: the order flips with the seed."""
    order = []
    monkeypatch.setattr(vs_peers, "train_zoo", lambda cli, task, rng: order.append("archzoo") or [(0.5, 1.0)])
    monkeypatch.setattr(vs_peers, "train_peer", lambda task, peer, *rest: order.append(peer) or [(0.5, 1.0)])
    args = vs_peers.parse_args(
        ["--task", "classification", "--peers", "torchvision", "timm", "--seeds", "0", "1", "2", "--train-size", "8"]
    )
    runs = vs_peers.compare(args)
    first, last = ["archzoo", "torchvision", "timm"], ["timm", "torchvision", "archzoo"]
    assert order == first + last + first
    assert list(runs) == ["archzoo", "torchvision", "timm"] and all(len(seeds) == 3 for seeds in runs.values())


def test_archzoo_trains_from_its_own_random_state_whoever_went_first(vs_peers) -> None:
    """`zoo fit` draws its training order from torch's RNG when the fit starts: a peer trained before
    archzoo must not change it."""
    drawn = []

    def fit(model, datamodule) -> None:
        drawn.append(torch.randint(2**31, ()).item())

    cli = SimpleNamespace(trainer=SimpleNamespace(callbacks=[], fit=fit), model=None, datamodule=None)
    rng = vs_peers.rng_states()
    expected = torch.randint(2**31, ()).item()
    torch.manual_seed(123)  # a peer's loop ran in between
    vs_peers.train_zoo(cli, "classification", rng)
    assert drawn == [expected]
