"""The wheel works without the git checkout: it holds every package and the configs, and its `zoo`
command benches a preset and fits a built-in config from any folder.

The wheel goes into a fresh environment outside the repository, without its dependencies; a ``.pth``
file lends it the project environment's site-packages (torch and the rest), so the test stays fast and
offline. Only site-packages folders read ``.pth`` files, so the editable install there does not answer
for ``tasks``: the test checks that the wheel's copy does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
TINY_PRESET = """\
description: one tiny cell
defaults: {steps: 2, train_size: 8, val_size: 4, num_workers: 0, batch_size: 4, image_size: 32}
timing: {warmup: 1, repeats: 2}
cells:
  - {model: resnet20, task: classification, model_kwargs: {widths: [4, 4, 8]}}
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTHON"))}
    env.update(HOME=str(cwd), WANDB_MODE="offline")
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_the_package_list_names_every_package() -> None:
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    inits = [p for folder in ("zoo", "tasks") for p in (REPO / folder).glob("**/__init__.py")]
    on_disk = {p.parent.relative_to(REPO).as_posix().replace("/", ".") for p in inits}
    assert (REPO / "configs" / "__init__.py").is_file()  # configs/ is the package tasks.configs
    assert sorted(listed) == sorted(on_disk | {"tasks.configs"})


def test_the_wheel_runs_bench_and_fit_from_any_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"  # build from a copy: setuptools writes build/ and egg-info next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("zoo", "tasks", "configs"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist", str(source)],
        tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("archzoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "tasks/configs/bench/quick.yaml",
        "tasks/configs/classification/resnet.yaml",
        "zoo/model_counts.json",
    } <= set(names)

    env = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)], tmp_path)
    python = env / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], tmp_path)
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _run([str(python), "-c", "import tasks, zoo; print(tasks.__file__); print(zoo.__file__)"], elsewhere)
    assert all(Path(line).is_relative_to(env) for line in found.stdout.split()), found.stdout
    (elsewhere / "tiny.yaml").write_text(TINY_PRESET)
    zoo = str(env / "bin" / "zoo")
    listed = _run([zoo, "configs"], elsewhere).stdout
    assert "`bench/quick`" in listed and f"files in {site / 'tasks' / 'configs'}" in listed
    _run([zoo, "bench", "--preset", "tiny.yaml", "--out", "bench"], elsewhere)
    assert "| classification | resnet20-w448 |" in (elsewhere / "bench" / "leaderboard.md").read_text()
    fit = ["fit", "--config", "classification/resnet", "--trainer.max_steps", "2", "--trainer.default_root_dir", "run"]
    _run([zoo, *fit, "--data.init_args.train_size", "8", "--data.init_args.val_size", "4",
          "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0"], elsewhere)  # fmt: skip
    assert (elsewhere / "run" / "checkpoints" / "last.ckpt").is_file()
