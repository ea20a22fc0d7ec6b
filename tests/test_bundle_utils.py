"""Helpers of the reference bundles: latest_checkpoint, LossScheduleHandler and BatchMapsHandler."""

from __future__ import annotations

import pytest
import torch

from monai_segloss import BatchMapsHandler, CompoundLoss, LossScheduleHandler, latest_checkpoint
from monai_segloss.geometry.transforms import LesionInstancesd, SignedDistanceMapd


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


class _Spy(torch.nn.Module):
    """Records what the trainer hands the loss."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, pred, label, **maps):
        self.calls.append((pred.detach(), label, maps))
        return self.inner(pred, label, **maps)


def _trainer(loss, keys=None):
    """A real MONAI SupervisedTrainer on 4 lesion volumes whose transforms precompute both kinds of map."""
    engines = pytest.importorskip("monai.engines")
    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose

    gen = torch.Generator().manual_seed(0)
    data = []
    for i in range(4):
        label = torch.zeros(1, 12, 10, 8, dtype=torch.long)
        label[0, 2 + i:5 + i, 2:5, 1:4] = 1  # a lesion
        label[0, 9:11, 7:9, 5:7] = 1  # a second, smaller one
        data.append({"image": torch.randn(1, 12, 10, 8, generator=gen), "label": label})
    transforms = Compose([SignedDistanceMapd("label", num_classes=2), LesionInstancesd("label", num_classes=2)])
    net = torch.nn.Conv3d(1, 2, 3, padding=1)
    trainer = engines.SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=DataLoader(Dataset(data, transforms), batch_size=2),
        network=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), loss_function=loss)
    BatchMapsHandler(keys).attach(trainer)
    return trainer


def test_batch_maps_handler_gives_the_loss_the_batch_maps():
    """Through a SupervisedTrainer, which calls loss(pred, label) only, the loss receives each batch's own maps: the
    precomputed loss equals the on-the-fly loss on every iteration."""
    loss = _Spy(CompoundLoss(["boundary", "blob"], shared={"softmax": True, "to_onehot_y": True}))
    trainer = _trainer(loss, {"distance": "label_dist", "instances": "label_instances"})
    trainer.run()
    assert len(loss.calls) == 2
    for pred, label, maps in loss.calls:
        assert set(maps) == {"distance", "instances"}
        assert maps["distance"].shape == (2, 2, 12, 10, 8) and maps["instances"].shape == (2, 2, 12, 10, 8)
        torch.testing.assert_close(loss.inner(pred, label, **maps), loss.inner(pred, label))
    # consecutive batches hold different labels: the maps are not reused
    assert not torch.equal(loss.calls[0][2]["distance"], loss.calls[1][2]["distance"])
    default = _Spy(CompoundLoss(["boundary"], shared={"softmax": True, "to_onehot_y": True}))
    trainer = _trainer(default)
    trainer.run()  # default keys: distance <- label_dist
    trainer.state.max_epochs = 2
    trainer.run()  # a second run (as after resuming) keeps one wrapper
    assert [set(m) for _, _, m in default.calls] == [{"distance"}] * 4


def test_batch_maps_handler_errors():
    with pytest.raises(ValueError, match="label_nope"):
        _trainer(_Spy(CompoundLoss(["boundary"], shared={"softmax": True, "to_onehot_y": True})),
                 {"distance": "label_nope"}).run()
    for bad in ({}, ["distance"], {"distance": 3}):
        with pytest.raises(TypeError, match="keys"):
            BatchMapsHandler(bad)
    with pytest.raises(TypeError, match="loss_function"):
        BatchMapsHandler().wrap_loss(object())
    with pytest.raises(ValueError, match="dict batch"):
        BatchMapsHandler().maps([torch.zeros(1)], torch.zeros(1))
