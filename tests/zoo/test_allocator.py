"""`zoo.allocator`: freed memory is reused without page faults, and can be handed back. Each case
runs in a fresh interpreter, so it starts from glibc's defaults whatever this process has set."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo.allocator import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="the allocator settings are glibc's")

SCRIPT = """
import json, os, resource, statistics, sys, torch
from zoo.allocator import keep_freed_memory, release_free_memory
kept = keep_freed_memory()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rss_bytes = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
for _ in range(2):  # 64 MB, written and freed before counting
    torch.ones(2**24)
per_block = []
for _ in range(7):
    before = faults()
    torch.ones(2**24)
    per_block.append(faults() - before)
repeat_faults = statistics.median(per_block)  # a block may land past the heap's top once and fault once
x = torch.ones(2**24)
held = rss_bytes()
del x
freed = rss_bytes()
released = release_free_memory()
after = rss_bytes()
print(json.dumps(dict(kept=kept, faults=repeat_faults, per_block=per_block, held=held, freed=freed, after=after,
                      released=released)))
"""


def _run(**env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_kept_memory_is_reused_without_page_faults_and_released_on_demand() -> None:
    default, kept = _run(ARCHZOO_KEEP_FREED_MEMORY="off"), _run(ARCHZOO_KEEP_FREED_MEMORY="1")
    pages = 2**26 // os.sysconf("SC_PAGE_SIZE")
    assert not default["kept"] and kept["kept"]  # the environment variable turns it off
    # glibc maps a 64 MB block afresh each time, so its pages fault again on every write; kept, the
    # typical block takes (almost) none (with transparent huge pages always on, a fault maps 2 MB:
    # hence a comparison of the two runs rather than a page count)
    assert default["faults"] > 20 * max(kept["faults"], 1), (default, kept)
    assert kept["faults"] < pages // 10, kept
    # the freed block stays resident until release_free_memory hands it back
    assert kept["freed"] > kept["held"] - 2**24, kept
    assert kept["released"] and kept["after"] < kept["held"] - 2**25, kept
