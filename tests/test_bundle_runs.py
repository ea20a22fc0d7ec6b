"""Run folders of the bundles (training/bundle_runs.py): one per loss configuration, resume only by it, a model for
every budget, refusals in one line. The bundles end to end: tests/test_bundles.py and tests/test_user_path.py."""

from __future__ import annotations

import json

import pytest
import torch

import monai_segloss as msl
from monai_segloss.training.bundle_runs import (
    FinalModel,
    RunRefused,
    check_bundle_data,
    require_model,
    run_name,
    start_run,
)


def test_run_name_follows_the_configuration():
    tversky = msl.SegTverskyLoss(softmax=True, alpha=0.3, beta=0.7)
    name = run_name(tversky)
    assert name.startswith("tversky-") and len(name) == len("tversky-") + 8
    assert run_name(msl.SegTverskyLoss(softmax=True, alpha=0.3, beta=0.7)) == name  # equal configurations
    assert run_name(msl.SegTverskyLoss(softmax=True, alpha=0.4, beta=0.6)) != name  # any option changes it
    assert run_name(msl.SegDiceCELoss(softmax=True)).startswith("dice_ce-")
    compound = msl.CompoundLoss([{"loss": "dice", "name": "region"}, {"loss": "boundary"}])
    assert run_name(compound).startswith("region+boundary-")
    assert run_name(torch.nn.CrossEntropyLoss()).startswith("CrossEntropyLoss-")


def test_start_run_records_refuses_and_resumes(tmp_path, capsys):
    loss, other = msl.SegDiceLoss(softmax=True), msl.SegDiceLoss(softmax=True, batch=True)
    folder = tmp_path / "models" / run_name(loss)
    assert start_run(folder, loss, resume=False, max_epochs=3) is None
    assert "SegDiceLoss" in json.loads((folder / "run.json").read_text())["loss"]
    (folder / "checkpoint_epoch=2.pt").write_bytes(b"")
    with pytest.raises(RunRefused) as info:  # a new run over an existing one
        start_run(folder, loss, resume=False, max_epochs=3)
    assert info.value.code == 2
    assert str(info.value) == (f"error: {folder} already holds a run of this loss configuration "
                               "(checkpoint_epoch=2.pt); continue it with --resume True, or start another with "
                               "--run_name NAME")
    assert start_run(folder, loss, resume=True, max_epochs=3) == str(folder / "checkpoint_epoch=2.pt")
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"resuming from {folder / 'checkpoint_epoch=2.pt'} (epoch 2 of 3)"
    with pytest.raises(RunRefused, match="is at epoch 2, max_epochs is 2: nothing left to train; pass --max_epochs N "
                                         "with N > 2"):
        start_run(folder, loss, resume=True, max_epochs=2)
    with pytest.raises(RunRefused, match="holds a run of another loss configuration"):  # --ckpt_dir onto another
        start_run(folder, other, resume=True, max_epochs=3)
    fresh = tmp_path / "models" / run_name(other)
    capsys.readouterr()
    assert start_run(fresh, other, resume=True, max_epochs=3) is None
    assert capsys.readouterr().err == (f"note: --resume True: no checkpoint of this loss configuration in {fresh} "
                                       f"(other runs: {folder}); training from epoch 0\n")
    with pytest.raises(TypeError, match="resume must be a bool, got 'yes'"):
        start_run(fresh, other, resume="yes", max_epochs=3)  # type: ignore[arg-type]


def test_require_model_names_the_file_and_the_command(tmp_path, capsys):
    model = tmp_path / "models" / "dice-12345678" / "model.pt"
    with pytest.raises(RunRefused) as info:
        require_model(model)
    assert str(info.value) == (f"error: no trained model {model}: train this loss configuration first (the same "
                               "command with --config_file configs/train.json and the same loss override)")
    assert capsys.readouterr().err.count("\n") == 1  # one line
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    assert require_model(model) == str(model)


def test_check_bundle_data_refuses_in_one_line_per_case(tmp_path, capsys):
    datalist = tmp_path / "dataset.json"
    datalist.write_text(json.dumps({"training": [{"image": "a.nii.gz", "label": "b.nii.gz"}]}))
    with pytest.raises(RunRefused):
        check_bundle_data(datalist, tmp_path, ["training"], 2)
    assert capsys.readouterr().err.splitlines() == [
        f"error: 1 of 1 cases of {datalist} failed the data check; nothing was trained:",
        f"  {tmp_path / 'b.nii.gz'}: label file not found: {tmp_path / 'b.nii.gz'}",
        "fix or remove these cases (or skip the check: --check_data False)"]
    assert check_bundle_data(datalist, tmp_path, ["training"], 2, enabled=False) is False


@pytest.mark.parametrize("validations", [0, 1])
def test_final_model_is_the_last_weights_when_no_validation_ran(tmp_path, capsys, validations):
    pytest.importorskip("ignite")
    from ignite.engine import Engine, Events

    net = torch.nn.Linear(2, 1)
    evaluator = Engine(lambda e, b: None)
    trainer = Engine(lambda e, b: None)
    if validations:
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: evaluator.run([0]))
    handler = FinalModel(tmp_path, net, evaluator)
    handler.attach(trainer)
    trainer.run([0, 1], max_epochs=2)
    out = capsys.readouterr().out
    if validations:  # the validation's CheckpointSaver writes the best model; nothing is replaced
        assert not (tmp_path / "model.pt").exists()
        assert out == f"{tmp_path / 'model.pt'}: the best validated weights (2 validations up to epoch 2)\n"
    else:
        saved = torch.load(tmp_path / "model.pt", weights_only=True)
        assert torch.equal(saved["weight"], net.weight)
        assert out == f"{tmp_path / 'model.pt'}: the last weights (epoch 2; no validation ran in this run)\n"
