"""Shared fixtures: ``device`` runs a test on the CPU and, where one is present, on a CUDA device (skipped
otherwise), so that ``pytest -k cuda`` is the suite's GPU run (``make test-gpu``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> torch.device:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device(request.param)
