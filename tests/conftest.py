"""Test-wide settings: one torch thread, since on 2 cores two threads contend badly with anything
else running, and albumentations must not look for updates on the network.

Property-based tests (hypothesis) run under the "archzoo" profile: derandomized, so CI draws the
same examples on every run and a failure reproduces; no example database; no per-example deadline
(the first example pays for model building); few examples, so the property suite stays fast.
``HYPOTHESIS_PROFILE=thorough`` draws more for a local search.
"""

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

settings.register_profile("archzoo", derandomize=True, database=None, deadline=None, max_examples=15)
settings.register_profile("thorough", parent=settings.get_profile("archzoo"), derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "archzoo"))


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class RunsCodeWhenUnpickled:
    """Unpickling this object writes ``marker``: what a malicious checkpoint or data file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


@pytest.fixture
def payload(tmp_path: Path) -> RunsCodeWhenUnpickled:
    """An object that writes ``payload.marker`` when unpickled; tests assert the marker never appears."""
    return RunsCodeWhenUnpickled(tmp_path / "marker")
