"""W&B without surprises: offline unless the user has set W&B up, never a login prompt.

``WANDB_MODE`` wins when set. Otherwise a run is online only when an API key is available (the
``WANDB_API_KEY`` variable, or a ``wandb login`` entry in ~/.netrc); everyone else gets an offline
run on disk that ``wandb sync`` can upload later.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger


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


class ZooWandbLogger(WandbLogger):
    """Lightning's WandbLogger with archzoo's defaults: project "archzoo", the mode from
    `wandb_mode`, and the run's files under ``save_dir``."""

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
