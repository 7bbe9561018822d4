"""Tests for tasks.wandb_setup: the W&B mode from the environment, and the logger's defaults."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

from tasks import ClassificationTask
from tasks.data import ClassificationData
from tasks.wandb_records import read_run
from tasks.wandb_setup import ZooWandbLogger, unreachable, wandb_mode


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A clean environment: no W&B variables and an empty home folder."""
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _netrc(home, text: str) -> None:
    path = home / ".netrc"
    path.write_text(text)
    path.chmod(0o600)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("online", "online"),
        ("offline", "offline"),
        ("disabled", "disabled"),
        ("dryrun", "offline"),
        (" Offline ", "offline"),
        ("DISABLED", "disabled"),
    ],
)
def test_wandb_mode_variable_wins(home, monkeypatch, value, mode):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)  # would mean online
    _netrc(home, "machine api.wandb.ai\n  login user\n  password secret\n")
    monkeypatch.setenv("WANDB_MODE", value)
    assert wandb_mode() == mode


def test_nothing_set_up_means_offline(home):
    assert wandb_mode() == "offline"


def test_api_key_means_online(home, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_API_KEY", "")
    assert wandb_mode() == "offline"


def test_an_unknown_mode_falls_back_to_the_login(home, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"


def test_netrc_login_means_online(home):
    _netrc(home, "machine example.com\n  login a\n  password b\nmachine api.wandb.ai\n  login user\n  password k\n")
    assert wandb_mode() == "online"


def test_netrc_without_wandb_or_malformed_means_offline(home):
    _netrc(home, "machine example.com\n  login a\n  password b\n")
    assert wandb_mode() == "offline"
    _netrc(home, "machine api.wandb.ai login user password k\nbogus token\n")  # NetrcParseError
    assert wandb_mode() == "offline"


def test_netrc_entry_without_a_key_means_offline(home):
    # wandb reads the API key from the password field and ignores an entry without one
    # (wandb.sdk.lib.wbauth.wbnetrc: "Found entry for machine ... with no API key"), so an online
    # run would have no key and ask for a login.
    _netrc(home, "machine api.wandb.ai\n  login user\n")
    assert wandb_mode() == "offline"


def test_unreadable_netrc_means_offline(home):
    (home / ".netrc").mkdir()  # reading it raises IsADirectoryError, which wandb itself tolerates
    assert wandb_mode() == "offline"


def test_logger_uses_the_mode_and_creates_its_folder(home, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    logger = ZooWandbLogger(save_dir=str(home / "runs" / "a"), name="a", group="g")
    assert (home / "runs" / "a").is_dir()
    assert logger._wandb_init["mode"] == "offline" and logger._wandb_init["project"] == "archzoo"
    assert logger._wandb_init["name"] == "a" and logger._wandb_init["group"] == "g"
    assert logger.save_dir == str(home / "runs" / "a")
    assert os.environ["WANDB_SILENT"] == "true"
    assert logger._experiment is None  # no run is started before it is needed

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert ZooWandbLogger(save_dir=str(home / "runs" / "b"), project="p")._wandb_init["mode"] == "disabled"


# --- W&B online but unreachable ------------------------------------------------------------------


@pytest.fixture
def unreachable_server(home, monkeypatch) -> str:
    """W&B set online with a key, its server a loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", url)
    return url


def test_unreachable_names_the_failure():
    assert unreachable("not a url") == "'not a url' is not a URL"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert unreachable(url) is None
    assert "ConnectionRefusedError" in unreachable(url)


def _hang_guard(signum, frame):
    raise TimeoutError("training with an unreachable W&B server hung")


def test_an_unreachable_server_falls_back_to_offline_and_keeps_the_metrics(unreachable_server, home):
    import wandb

    previous = signal.signal(signal.SIGALRM, _hang_guard)
    signal.alarm(120)  # wandb's own init timeout is 90 s: a hang fails the test instead of blocking it
    try:
        with pytest.warns(UserWarning, match="W&B server .* is unreachable") as caught:
            logger = ZooWandbLogger(save_dir=str(home / "run"), name="run")
        assert len([w for w in caught if "W&B" in str(w.message)]) == 1  # one clear warning
        assert "wandb sync" in str(caught[0].message)
        assert logger._wandb_init["mode"] == "offline"
        data = ClassificationData(image_size=16, batch_size=4, train_size=8, val_size=4)
        task = ClassificationTask(model="resnet20", model_kwargs={"layers": [1, 1, 1], "widths": [4, 8, 8]})
        csv = CSVLogger(str(home / "run"), name="csv")
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            logger=[logger, csv],
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(task, data)
        wandb.finish()
        wandb.teardown()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    (run_dir,) = (home / "run" / "wandb").glob("offline-run-*")
    history = read_run(run_dir)["history"]
    assert any("train/loss_step" in row for row in history) and any("val/acc1" in row for row in history)
    assert "val/acc1" in (home / "run" / "csv" / "version_0" / "metrics.csv").read_text()
