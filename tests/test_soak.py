"""Soak: 2,000 forward + backward iterations of every registered loss at a small size, in a fresh process with
the garbage collector off (a reference cycle, e.g. through the shared-preparation cache, would then stay in
memory). The resident size after the first 100 iterations must grow by less than 1 %: nothing is cached across
calls but the bounded per-device constants, and no cycle is made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SOAK = r"""
import gc, json, sys
import torch
import monai_segloss as msl
from benchmarks.bench_losses import resolve_kwargs
from tests.test_no_sync import _extra

torch.set_num_threads(1)
iters, warm = int(sys.argv[1]), int(sys.argv[2])
page = 4096

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

g = torch.Generator().manual_seed(0)
x = torch.randn(2, 3, 8, 8, generator=g).requires_grad_()
y = torch.randint(0, 3, (2, 1, 8, 8), generator=g)
mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.2).float()
out = {}
for key in msl.available_losses():
    kwargs, _, err = resolve_kwargs(key, "cpu")
    loss = msl.get_loss(key, **kwargs)
    extra = _extra(key, loss, x, y)
    gc.collect()
    gc.disable()
    for i in range(iters):
        if i == warm:
            base = rss()
        x.grad = None
        loss(x, y, mask=mask if i % 2 else None, **extra).backward()
    end = rss()
    gc.enable()
    out[key] = {"base": base, "end": end, "cycles": gc.collect()}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_soak_resident_memory_flat():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SOAK, "2000", "100"], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = {k: (v["end"] - v["base"]) / v["base"] for k, v in result.items()}
    assert set(result) >= {"dice", "dice_ce", "dice_focal", "cross_entropy", "exp_log", "unified_focal"}
    assert max(growth.values()) < 0.01, {k: f"{g:+.3%}" for k, g in growth.items()}
    assert all(v["cycles"] == 0 for v in result.values()), {k: v["cycles"] for k, v in result.items()}
