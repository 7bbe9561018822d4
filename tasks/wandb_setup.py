"""W&B without surprises: offline unless the user has set W&B up, never a login prompt.

``WANDB_MODE`` wins when set. Otherwise a run is online only when an API key is available (the
``WANDB_API_KEY`` variable, or a ``wandb login`` entry in ~/.netrc); everyone else gets an offline
run on disk that ``wandb sync`` can upload later.

An online run whose server cannot be reached does not hang the training: `ZooWandbLogger` first
tries a TCP connection to the server (``WANDB_BASE_URL``, default https://api.wandb.ai) for
`PROBE_TIMEOUT` seconds, and when it fails logs offline instead, with one warning saying how to
upload the run later. ``wandb.init`` itself is bounded by `INIT_TIMEOUT` (wandb's default is 90 s).
"""

from __future__ import annotations

import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn

DEFAULT_BASE_URL = "https://api.wandb.ai"
PROBE_TIMEOUT = 3.0
"""Seconds to wait for a TCP connection to the W&B server before logging offline."""
INIT_TIMEOUT = 30.0
"""Seconds ``wandb.init`` may take (a server that accepts connections but does not answer)."""


def wandb_mode() -> str:
    """ "online", "offline" or "disabled", from the environment and the user's W&B login."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("online", "offline", "disabled"):
        return mode
    if mode == "dryrun":
        return "offline"
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        auth = netrc.netrc(Path.home() / ".netrc").authenticators("api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        auth = None
    return "online" if auth and auth[2] else "offline"  # wandb reads the key from the password


def unreachable(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why a TCP connection to the host and port of `url` fails within `timeout` seconds, or None if it
    succeeds."""
    parts = urlsplit(url)
    if not parts.hostname:
        return f"{url!r} is not a URL"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except (OSError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


class ZooWandbLogger(WandbLogger):
    """Lightning's WandbLogger with archzoo's defaults: project "archzoo", the mode from
    `wandb_mode`, and the run's files under ``save_dir``.

    Online, it checks that the server answers (`unreachable`) and falls back to an offline run with
    one warning when it does not; ``wandb.init`` gets ``init_timeout`` `INIT_TIMEOUT` unless the
    caller passes its own ``settings``.
    """

    def __init__(
        self,
        save_dir: str = "runs",
        project: str = "archzoo",
        name: str | None = None,
        group: str | None = None,
        log_model: bool = False,
        **kwargs,
    ) -> None:
        mode = wandb_mode()
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WANDB_SILENT", "true")
        if mode == "online":
            import wandb

            url = os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL
            reason = unreachable(url)
            if reason is not None:
                mode = "offline"
                rank_zero_warn(
                    f"W&B server {url} is unreachable ({reason}); logging offline to {save_dir}/wandb instead. "
                    f"Upload the run later with `wandb sync {save_dir}/wandb/offline-run-*`."
                )
            kwargs.setdefault("settings", wandb.Settings(init_timeout=INIT_TIMEOUT))
        super().__init__(
            save_dir=save_dir,
            project=project,
            name=name,
            group=group,
            log_model=log_model,
            offline=mode == "offline",
            mode=mode,
            **kwargs,
        )
