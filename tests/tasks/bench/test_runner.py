"""A whole tiny bench end to end: leaderboard files, plots, one W&B run per cell in the bench's group
plus a summary run, a failing cell recorded while the others finish, and resume after kill -9."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.bench.cli import main
from tasks.wandb_records import iter_records, read_run


def _run_record(run_dir: Path):
    """The run record (name, group...) of an offline W&B run."""
    return next(r for r in iter_records(next(run_dir.glob("run-*.wandb"))) if r.WhichOneof("record_type") == "run").run


def test_tiny_bench_writes_leaderboard_plots_and_wandb_runs(tmp_path: Path, tiny, capsys) -> None:
    out = tmp_path / "bench"
    preset = tiny.write(tmp_path, tiny.resnet, tiny.diverging, tiny.hourglass)
    main(["--preset", str(preset), "--out", str(out)])

    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    by_cell = {f"{r['task']}/{r['name']}": r for r in rows}
    assert sorted(by_cell) == ["classification/diverges", "classification/resnet20-w448", "pose/hourglass1-c8-d2"]
    failed = by_cell["classification/diverges"]
    assert failed["status"] == "failed" and failed["error"].startswith("FloatingPointError") and failed["metric"] == ""
    for cell in ("classification/resnet20-w448", "pose/hourglass1-c8-d2"):
        row = by_cell[cell]
        assert row["status"] == "ok" and row["error"] == "" and row["steps"] == "2"
        assert 0 <= float(row["metric"]) <= 1
        for key in ("params", "gflops", "infer_ips", "train_ips", "peak_mem_mb", "wall_s"):
            assert float(row[key]) > 0, key
    assert by_cell["pose/hourglass1-c8-d2"]["metric_name"] == "val/pck"
    table = json.loads((out / "leaderboard.json").read_text())
    assert [(r["task"], r["name"], r["status"]) for r in table] == [(r["task"], r["name"], r["status"]) for r in rows]
    assert all(list(r) == list(rows[0]) for r in table)  # the CSV's columns, in order
    markdown = (out / "leaderboard.md").read_text()
    assert markdown.count("\n") == 2 + 3 and "failed: FloatingPointError" in markdown
    assert markdown in capsys.readouterr().out  # printed at the end
    for png in ("metric_vs_gflops.png", "throughput.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    records = {json.loads(p.read_text())["cell"]: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    resnet = records["classification/resnet20-w448"]
    run = read_run(out / resnet["run_dir"])
    assert run["config"]["cell"] == "classification/resnet20-w448"
    assert run["summary"]["val/acc1"] == resnet["metric"] == run["summary"]["bench/metric"]
    assert run["summary"]["bench/train_ips"] == resnet["train_ips"]
    assert any("train/loss_step" in row for row in run["history"])
    assert _run_record(out / resnet["run_dir"]).run_group == "bench"
    diverged = read_run(out / records["classification/diverges"]["run_dir"])
    assert diverged["summary"]["bench/status"] == "failed"
    runs = {_run_record(d).display_name: d for d in (out / "wandb").glob("offline-run-*")}
    assert sorted(runs) == sorted([*records, "summary"])  # one run per cell, plus the summary
    summary_dir = runs["summary"]
    summary = read_run(summary_dir)["summary"]
    assert summary["bench/cells"] == 3 and summary["bench/failed"] == 1
    assert summary["leaderboard._type"] == "table-file" and summary["leaderboard.nrows"] == 3
    assert {"plots/metric_vs_gflops._type", "plots/throughput._type"} <= set(summary)
    assert _run_record(summary_dir).run_group == "bench"


def test_resume_after_kill_9_runs_every_cell_exactly_once(tmp_path: Path, tiny) -> None:
    out = tmp_path / "bench"
    preset = tiny.write(tmp_path, tiny.resnet, tiny.hourglass)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-c", "import sys; from tasks.bench.cli import main; main(sys.argv[1:])"]
    proc = subprocess.Popen(
        [*command, "--preset", str(preset), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first = out / "cells" / "classification__resnet20-w448.json"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the first cell never finished"
    assert not (out / "leaderboard.csv").exists(), "killed too late: the bench had already finished"
    finished = first.read_text()

    main(["--resume", str(out)])
    assert first.read_text() == finished  # not run again
    assert sorted(p.name for p in (out / "cells").iterdir()) == [
        "classification__resnet20-w448.json",
        "pose__hourglass1-c8-d2.json",
    ]
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert sorted((r["task"], r["name"], r["status"]) for r in rows) == [
        ("classification", "resnet20-w448", "ok"),
        ("pose", "hourglass1-c8-d2", "ok"),
    ]


def test_bad_preset_stops_before_any_cell_runs(tmp_path: Path, tiny) -> None:
    out = tmp_path / "bench"
    preset = tiny.write(tmp_path, tiny.resnet, tiny.resnet.replace("resnet20", "resnet2O"))
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", str(preset), "--out", str(out)])
    message = str(exit_.value.code)
    assert "cell #2 (classification/resnet2O-w448)" in message and "resnet20" in message
    assert not out.exists()


FOLDERS = """\
description: two families on two tasks, on the user's folders
defaults: {{steps: 2, num_workers: 0, batch_size: 2, val_size: 2, image_size: 32}}
timing: {{warmup: 1, repeats: 2}}
tasks:
  classification: {{source: imagefolder, root: {imagefolder}}}
  segmentation: {{source: maskfolder, root: maskfolder, num_classes: 3}}
cells:
  - {{model: resnet20, task: classification, model_kwargs: {{widths: [4, 4, 8]}}}}
  - {{model: unet_same, task: classification, model_kwargs: {{base_width: 4}}}}
  - {{model: resnet18, task: segmentation, model_kwargs: {{widths: [4, 4, 8, 8]}}}}
  - {{model: unet_same, task: segmentation, model_kwargs: {{base_width: 4}}}}
"""


def test_bench_on_the_users_folders_records_which_data_each_cell_used(
    tmp_path: Path, imagefolder: Path, maskfolder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the mask folder's root is relative: to the folder the bench starts in
    preset = tmp_path / "folders.yaml"
    preset.write_text(FOLDERS.format(imagefolder=imagefolder))
    out = tmp_path / "bench"
    main(["--preset", str(preset), "--out", str(out)])

    rows = {(r["task"], r["name"]): r for r in csv.DictReader((out / "leaderboard.csv").open())}
    data = {"classification": ("imagefolder", str(imagefolder)), "segmentation": ("maskfolder", str(maskfolder))}
    assert sorted(rows) == [
        ("classification", "resnet20-w448"),
        ("classification", "unet_same-w4"),
        ("segmentation", "resnet18-w4488"),
        ("segmentation", "unet_same-w4"),
    ]
    for (task, _), row in rows.items():
        assert row["status"] == "ok" and 0 <= float(row["metric"]) <= 1
        assert (row["source"], row["root"]) == data[task]
    markdown = (out / "leaderboard.md").read_text()
    assert f"| maskfolder {maskfolder} |" in markdown and f"| imagefolder {imagefolder} |" in markdown
    cells = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    segmentation = next(c for c in cells if c["cell"] == "segmentation/unet_same-w4")
    config = read_run(out / segmentation["run_dir"])["config"]
    assert (config["data/source"], config["data/root"]) == data["segmentation"]
    assert config["num_classes"] == 3  # the data's num_classes reached the task too


def test_two_concurrent_shards_in_one_folder_merge_into_the_unsharded_leaderboard(tmp_path: Path, tiny) -> None:
    preset = tiny.write(tmp_path, tiny.resnet, tiny.hourglass, tiny.resnet.replace("[4, 4, 8]", "[4, 8, 8]"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-c", "import sys; from tasks.bench.cli import main; main(sys.argv[1:])"]
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    runs = [[*command, "--preset", str(preset), "--out", str(shared), "--shard", f"{k}/2"] for k in (0, 1)]
    runs.append([*command, "--preset", str(preset), "--out", str(alone)])
    procs = [
        subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for run in runs
    ]
    outputs = ["".join(proc.communicate(timeout=300)[0].split()) for proc in procs]  # rich wraps lines
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    # one shard found the other's cells finished and built the leaderboard; the other said how to
    assert sum(f"Leaderboard,plotsandW&Brunsin{shared}" in out for out in outputs[:2]) == 1, outputs
    assert sum(f"zoobench--merge{shared}" in out for out in outputs[:2]) == 1, outputs

    def metrics(folder: Path) -> dict[str, tuple[str, str]]:
        return {r["name"]: (r["status"], r["metric"]) for r in csv.DictReader((folder / "leaderboard.csv").open())}

    assert len(metrics(alone)) == 3 and metrics(shared) == metrics(alone)
    summaries = [d for d in (shared / "wandb").glob("offline-run-*") if _run_record(d).display_name == "summary"]
    assert len(summaries) == 1 and _run_record(summaries[0]).run_group == "shared"

    (shared / "leaderboard.csv").unlink()
    main(["--merge", str(shared)])
    assert metrics(shared) == metrics(alone)


def test_a_shard_joins_only_the_same_bench(tmp_path: Path, tiny) -> None:
    out = tmp_path / "bench"
    preset = tiny.write(tmp_path, tiny.resnet)
    main(["--preset", str(preset), "--out", str(out), "--shard", "1/2"])  # shard 1 of 2 has no cell here
    assert not (out / "leaderboard.csv").exists() and not (out / "cells").exists()
    other = tiny.write(tmp_path, tiny.hourglass, name="other")
    for argv, message in (
        (["--preset", str(other), "--out", str(out), "--shard", "0/2"], "another preset or other switches"),
        (["--preset", str(preset), "--out", str(out)], "join it as a shard with --shard K/N"),
        (["--preset", str(preset), "--out", str(out), "--shard", "2/2"], "K counts from 0 and must be below N"),
        (["--preset", str(preset), "--out", str(out), "--shard", "half"], "write K/N, e.g. 0/4"),
        (["--preset", str(preset), "--shard", "0/2"], "--shard needs --out DIR"),
        (["--merge", str(out), "--shard", "0/2"], "use it alone"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert message in str(exit_.value.code), argv


def test_a_cell_on_two_processes_learns_like_the_same_cell_on_one(tmp_path: Path) -> None:
    """Two CPU processes with half the batch each (a DDP cell, run in a child process of its own) see
    the same images per step as one process with the whole batch: their metrics agree."""
    preset = tmp_path / "ddp.yaml"
    preset.write_text(
        "description: one cell on one and on two processes\n"
        "defaults: {steps: 120, train_size: 1920, val_size: 128, num_workers: 0, image_size: 16, lr: 0.01,"
        " model: resnet20, task: classification}\n"
        "timing: {warmup: 1, repeats: 2}\n"
        "cells:\n"
        "  - {name: one, batch_size: 16}\n"
        "  - {name: two, batch_size: 8, devices: 2, strategy: ddp}\n"
    )
    out = tmp_path / "bench"
    main(["--preset", str(preset), "--out", str(out)])
    rows = {r["name"]: r for r in csv.DictReader((out / "leaderboard.csv").open())}
    assert rows["one"]["status"] == rows["two"]["status"] == "ok", rows["two"]["error"]
    assert (rows["one"]["devices"], rows["two"]["devices"]) == ("1", "2") and rows["two"]["steps"] == "120"
    one, two = float(rows["one"]["metric"]), float(rows["two"]["metric"])
    # both learned (chance is 0.1), and agree within 0.1, as `zoo fit` on 2 processes does (test_cli): not
    # exactly, since BatchNorm normalises over the 8 images of a process, not 16 (0.344 and 0.250 here)
    assert min(one, two) > 0.2 and abs(one - two) <= 0.1
    record = json.loads((out / "cells" / "classification__two.json").read_text())
    assert read_run(out / record["run_dir"])["summary"]["bench/metric"] == two  # rank 0's W&B run
    assert not list(out.glob(".child-*"))  # the child's job folder is gone


def test_shards_starting_at_once_let_one_write_the_folder(tmp_path: Path, tiny, monkeypatch) -> None:
    from tasks.bench import runner
    from tasks.bench.measure import Settings
    from tasks.bench.preset import load_preset

    preset, out = load_preset(str(tiny.write(tmp_path, tiny.resnet))), tmp_path / "bench"
    out.mkdir()
    (out / runner.STARTING).touch()  # another shard is writing the folder right now
    monkeypatch.setattr(runner, "STARTING_WAIT", 0.3)
    with pytest.raises(FileExistsError, match=r"a shard died while starting the bench; remove .*\.starting"):
        runner.start_bench(preset, Settings(), out, shared=True)
    assert not (out / runner.MANIFEST).exists()  # this shard wrote nothing

    (out / runner.STARTING).unlink()
    runner.start_bench(preset, Settings(), out, shared=True)  # the first shard: writes and releases
    assert (out / runner.MANIFEST).is_file() and not (out / runner.STARTING).exists()
    runner.start_bench(preset, Settings(), out, shared=True)  # a later one joins
