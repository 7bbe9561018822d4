"""Test-wide settings: one torch thread, since on 2 cores two threads contend badly with anything
else running, and albumentations must not look for updates on the network."""

import os

import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
