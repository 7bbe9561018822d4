"""Tests for tasks.wandb_setup: the W&B mode from the environment, and the logger's defaults."""

from __future__ import annotations

import os

import pytest

from tasks.wandb_setup import ZooWandbLogger, wandb_mode


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
