"""Helpers of the reference bundles: latest_checkpoint and LossScheduleHandler."""

from __future__ import annotations

import pytest
import torch

from monai_segloss import LossScheduleHandler, latest_checkpoint


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    for name in ("checkpoint_epoch=2.pt", "checkpoint_epoch=10.pt", "checkpoint_epoch=9.pt", "model.pt",
                 "run_checkpoint_epoch=50.pt", "checkpoint_epoch=11.pt.tmp"):
        torch.save({}, tmp_path / name)
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint_epoch=10.pt")  # numeric, not lexical order
    assert latest_checkpoint(tmp_path, prefix="run") == str(tmp_path / "run_checkpoint_epoch=50.pt")
    with pytest.raises(TypeError, match="prefix"):
        latest_checkpoint(tmp_path, prefix=3)


class _Scheduled:
    def __init__(self):
        self.epoch = self.step = None

    def set_epoch(self, e):
        self.epoch = e

    def set_step(self, s):
        self.step = s


def test_loss_schedule_handler_follows_engine():
    engine_mod = pytest.importorskip("ignite.engine")
    loss = _Scheduled()
    seen = []
    engine = engine_mod.Engine(lambda e, batch: seen.append((loss.epoch, loss.step)))
    LossScheduleHandler(loss).attach(engine)
    engine.run([0, 1, 2], max_epochs=2)
    # counters start at 0 and are set before each iteration runs
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]


def test_loss_schedule_handler_needs_counters():
    with pytest.raises(TypeError, match="set_epoch"):
        LossScheduleHandler(torch.nn.Identity())
    only_epoch = LossScheduleHandler(type("L", (), {"set_epoch": lambda self, e: None})(), step=False)
    assert only_epoch.epoch and not only_epoch.step
