"""A study spread over a job array: ``--shard I/N`` runs disjoint sets of losses into one folder, ``study report``
merges them into the report a single process writes; one GPU per worker process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monai_segloss.app.study import (
    PLAN_FILE,
    _pool,
    parse_shard,
    report_study,
    run_study,
    setting_from_json,
    shard_losses,
    visible_gpus,
)

pytest.importorskip("nilearn")

REPO = Path(__file__).resolve().parents[1]
_SHARD = """
import sys
from tests.test_study_shards import THREE
from monai_segloss.app.study import run_study
run_study(THREE, out_dir=sys.argv[1], cache_dir=sys.argv[2], workers=1, shard=(int(sys.argv[3]), 2),
          echo=print)
"""


def _three():
    from tests.test_study import TINY

    # three losses over two shards: shard 0 holds dice and tversky, shard 1 focal_tversky
    return dataclasses.replace(TINY, losses=("dice", "focal_tversky", "tversky"), lr_grid=(1e-3, 1e-2))


THREE = _three()


def _comparable(metrics: dict) -> dict:
    """metrics.json less what depends on the call and the machine's load (the timing, each run's seconds)."""
    runs = {k: {m: v for m, v in run.items() if not m.endswith("_seconds")} for k, run in metrics["runs"].items()}
    return {**{k: v for k, v in metrics.items() if k != "timing"}, "runs": runs}


def _report_text(path: Path) -> list[str]:
    """report.md less its time lines."""
    return [line for line in path.read_text().splitlines() if "**time**" not in line and " min per run" not in line]


@pytest.mark.slow
def test_shards_then_report_equal_one_process(tmp_path):
    """Two shards as two processes into one folder, then `study report`: the same metrics.json as one process
    (about 2 minutes on 2 cores)."""
    cache = tmp_path / "cache"
    single = run_study(THREE, out_dir=tmp_path / "single", cache_dir=cache, runs_dir=tmp_path / "single_runs",
                       workers=1, echo=lambda s: None)
    shared = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _SHARD, str(shared), str(cache), str(i)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, stderr) in zip(procs, outs, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    assert "shard 0/2 done (dice, tversky)" in outs[0][0] and "shard 1/2 done (focal_tversky)" in outs[1][0]
    assert not (shared / "report.md").exists()  # a shard writes no report
    # every run trained exactly once, by its own shard: 3 losses x 2 rates on seed 0, 3 losses on seed 1
    assert len(list((shared / "runs").glob("*/training.json"))) == 9
    lines: list[str] = []
    merged = report_study(shared, echo=lines.append)
    assert not any(line.startswith("missing runs") for line in lines)
    one = json.loads(single["metrics"].read_text())
    both = json.loads(merged["metrics"].read_text())
    assert _comparable(both) == _comparable(one)
    assert _report_text(merged["report"]) == _report_text(single["report"])


def test_report_lists_missing_runs_and_keeps_the_complete_losses(tmp_path):
    one_seed = dataclasses.replace(THREE, seeds=(0,), losses=("dice", "tversky"))
    out = tmp_path / "out"
    run_study(one_seed, out_dir=out, cache_dir=tmp_path / "cache", workers=1, shard=(0, 2), echo=lambda s: None)
    lines: list[str] = []
    paths = report_study(out, echo=lines.append)
    assert lines[0].startswith("missing runs (2): tversky lr0.001 s0 (training), tversky lr0.01 s0 (training)")
    assert lines[1] == "the report holds dice; not yet: tversky"
    assert list(json.loads(paths["metrics"].read_text())["table"]) == ["dice"]
    with pytest.raises(ValueError, match="holds no study.json"):
        report_study(tmp_path / "cache")


def test_a_shard_refuses_a_folder_of_another_study(tmp_path):
    one = dataclasses.replace(THREE, seeds=(0,), losses=("dice",), lr_grid=(1e-3,), lr_extend=0)
    out = tmp_path / "out"
    run_study(one, out_dir=out, cache_dir=tmp_path / "cache", workers=1, shard=(0, 1), echo=lambda s: None)
    plan = json.loads((out / PLAN_FILE).read_text())
    assert setting_from_json(plan["setting"]) == one  # study.json round-trips the setting
    other = dataclasses.replace(one, epochs=3)
    with pytest.raises(ValueError, match="holds another study's study.json"):
        run_study(other, out_dir=out, cache_dir=tmp_path / "cache", workers=1, shard=(0, 1), echo=lambda s: None)


def test_shard_arithmetic():
    losses = ("a", "b", "c", "d", "e")
    parts = [shard_losses(losses, (i, 3)) for i in range(3)]
    assert parts == [["a", "d"], ["b", "e"], ["c"]]
    assert sorted(sum(parts, [])) == list(losses)  # disjoint, and together every loss
    assert shard_losses(losses, (5, 8)) == [] and shard_losses(losses, None) == list(losses)
    assert parse_shard("3/8") == (3, 8)
    for bad in ("8/8", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def _visible(_: int) -> str:
    import time

    time.sleep(0.3)  # both workers take a job
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")


def test_each_worker_gets_a_gpu_of_its_own(monkeypatch):
    """The pool gives worker k the k-th visible GPU (CUDA_VISIBLE_DEVICES set before CUDA starts in it)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    with _pool(2, 1, visible_gpus()) as (pool, _):
        assert pool is not None
        seen = set(pool.map(_visible, range(4)))
    assert seen == {"3", "5"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
