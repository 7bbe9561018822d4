"""The configs shipped with archzoo: the repository's configs/ folder, installed as the package
``tasks.configs``, so that a wheel has them too.

`find_config` turns a built-in name (``classification/resnet``, ``bench/quick``; a trailing ``.yaml``
and a leading ``configs/`` are allowed) into the installed file's path, which is what ``--config``
and ``zoo bench --preset`` accept besides a path of the user's; `list_configs` lists the names.
"""

from __future__ import annotations

import difflib
import itertools
import re
from importlib.resources import files
from pathlib import Path

import yaml

PACKAGE = "tasks.configs"


def config_root() -> Path:
    """The folder of the installed configs (the repository's configs/ in an editable install)."""
    return Path(str(files(PACKAGE)))


def list_configs(folder: str = "") -> list[str]:
    """The built-in config names (``<folder>/<name>``), sorted; only those under ``folder`` if given."""
    root = config_root()
    return sorted(path.relative_to(root).with_suffix("").as_posix() for path in (root / folder).rglob("*.yaml"))


def builtin_name(value: str) -> str:
    """``configs/classification/resnet.yaml`` -> ``classification/resnet``."""
    return value.removeprefix("configs/").removesuffix(".yaml").removesuffix(".yml")


def find_config(value: str) -> Path:
    """A config file: ``value`` itself when it is an existing file, else the built-in config it names.

    An unknown name raises FileNotFoundError listing close names and where to see them all (`zoo configs`).
    """
    path = Path(value).expanduser()
    if path.is_file():
        return path
    name = builtin_name(value)
    builtin = config_root() / f"{name}.yaml"
    if builtin.is_file():
        return builtin
    close = difflib.get_close_matches(name, list_configs(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise FileNotFoundError(
        f"No config file {value!r} and no built-in config of that name.{hint} `zoo configs` lists the built-in ones."
    )


def describe(name: str) -> str:
    """What a built-in config is for: a bench preset's ``description``, else the first sentence of the
    comment the file starts with."""
    text = (config_root() / f"{name}.yaml").read_text()
    description = (yaml.safe_load(text) or {}).get("description")
    if description:
        return str(description)
    comment = " ".join(
        line.lstrip("#").strip() for line in itertools.takewhile(lambda s: s.startswith("#"), text.splitlines())
    )
    return re.split(r"\.\s+(?=[A-Z])", comment)[0].rstrip(".") + "." if comment else ""  # not "et al. 2015"
