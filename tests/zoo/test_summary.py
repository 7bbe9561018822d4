"""Tests for zoo.summary: the shipped counts, model_row and model_table (what `zoo models` prints)."""

import json

import pytest

import zoo
from zoo.summary import COUNTS_FILE, count_model, model_row, model_table, spec_key


def test_the_shipped_counts_cover_every_configuration_as_registered():
    counts = json.loads(COUNTS_FILE.read_text())
    assert sorted(counts) == sorted(zoo.list_models())
    stale = [name for name, entry in counts.items() if entry["key"] != spec_key(name)]
    assert stale == [], f"configurations changed since counting: {stale}; run `python -m zoo.summary`"
    for name in ("resnet20", "unet_resnet18", "hourglass1"):  # the counts are what counting gives
        assert counts[name] == count_model(name)


def test_model_row_for_resnet20():
    row = model_row("resnet20")
    assert row["params"] == 269_722
    assert (row["family"], row["task"], row["input"]) == ("resnet", "classification", "3x32x32")
    assert row["features"] == "16/1 32/2 64/4"
    assert row["gflops"] == pytest.approx(2 * 0.0408, rel=0.03)  # 40.8M MACs (He et al. 2015)
    assert "He et al. 2015" in row["paper"]


def test_model_row_counts_a_configuration_the_cache_does_not_know():
    row = model_row("unet", cache={"unet": {"key": "an older configuration", "params": 1, "gflops": 0, "features": ""}})
    assert (row["family"], row["task"], row["input"]) == ("unet", "segmentation", "1x572x572")
    assert round(row["params"] / 1e6, 1) == 31.0
    assert row["features"] == "64/1 128/2 256/4 512/8 1024/16"
    assert row["gflops"] > 100


def test_model_table_has_a_row_per_matching_model():
    lines = model_table("resnet2*", flops=True).splitlines()
    assert lines[0].startswith("| model | family |") and "GFLOPs" in lines[0] and lines[1].startswith("|---|")
    rows = lines[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["resnet200", "resnet20"]
    resnet20 = rows[1].split("|")
    assert resnet20[5].strip() == "269,722"
    assert resnet20[6].strip() == f"{model_row('resnet20')['gflops']:.2f}"
    assert rows[0].split("|")[5].strip() == "64,673,832"
    assert "GFLOPs" not in model_table("resnet20").splitlines()[0]


def test_model_table_with_no_match_has_only_the_header():
    assert len(model_table("no_such_model*").splitlines()) == 2
