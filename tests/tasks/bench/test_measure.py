"""Median timing counts its calls right, PeakRSS sees an allocation, settings reject bad switches."""

import time

import pytest
import torch

from tasks.bench.measure import PeakRSS, Settings, matmul_gflops, median_time, throughput


def test_median_time_runs_warmup_then_repeats() -> None:
    calls = []
    seconds = median_time(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7 and seconds >= 0


def test_peak_rss_sees_a_large_allocation_that_is_freed_inside() -> None:
    with PeakRSS() as baseline:
        pass
    with PeakRSS(interval=0.001) as peak:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        time.sleep(0.05)  # let the sampler see it
        del block
    assert peak.peak - baseline.peak > 48 * 2**20


def test_throughput_reports_speeds_and_memory_and_keeps_the_mode() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    net(torch.zeros(1, 3, 8, 8))
    net.eval()
    result = throughput(net, torch.randn(4, 3, 8, 8), lambda out: out.square().mean(), Settings(), 1, 2)
    assert set(result) == {"infer_ips", "train_ips", "peak_mem_mb"} and all(v > 0 for v in result.values())
    assert not net.training
    assert matmul_gflops(size=64, warmup=1, repeats=2) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, "device"),
        ({"precision": "8"}, "precision"),
        ({"precision": "16-mixed"}, "needs CUDA"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_settings_reject_bad_switches(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs)
