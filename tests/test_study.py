"""`monai-segloss study` end to end on a tiny setting: a killed study resumes without redoing finished runs, and the
report holds the tables with intervals, the paired comparisons, the FROC/CPM, the operating points and the figures."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from monai_segloss.app.cli import build_parser
from monai_segloss.app.report import FIGURES, finding
from monai_segloss.app.study import SETTINGS, StudySetting, run_study, training_config_digest

pytest.importorskip("nilearn")

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky"

# 7 brain cases at 4 mm (~ 40 x 48 x 42 voxels): 3 fixed test cases, 4 split per seed (1 validation, 3 training);
# 2 losses x 2 seeds, two learning rates tried on seed 0 (6 trainings), two short epochs each
TINY = StudySetting(name="tiny", losses=("dice", "focal_tversky"), seeds=(0, 1), num_cases=7, test_cases=3,
                    spacing=4.0, val_frac=0.25, channels=(8, 16), patch=(24, 24, 24), epochs=2, val_points=2,
                    num_samples=1, lr_grid=(1e-3, 1e-2), lr_extend=0, compile=False,
                    thresholds=(0.1, 0.3, 0.5, 0.7, 0.9), min_sizes_mm3=(0.0, 64.0), size_bins=(100.0, 500.0),
                    n_boot=200)
_CHILD = """
import sys
from tests.test_study import TINY
from monai_segloss.app.study import run_study
run_study(TINY, out_dir=sys.argv[1], cache_dir=sys.argv[2], workers=1, echo=lambda s: None)
"""


def _kill_after_first_result(out: Path, cache: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(cache)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while not list(cache.glob("runs/*/training.json")):
            if proc.poll() is not None:
                raise AssertionError(f"the study ended before it was killed: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("no run finished within 300 s")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_killed_study_resumes_and_writes_the_report(tmp_path):
    out, cache = tmp_path / "report", tmp_path / "cache"
    _kill_after_first_result(out, cache)
    finished = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cache.glob("runs/*/training.json")}
    assert 1 <= len(finished) < 6 and not (out / "report.md").exists()
    lines: list[str] = []
    paths = run_study(TINY, out_dir=out, cache_dir=cache, workers=1, echo=lines.append)
    assert lines[0].startswith(f"learning rates: {len(finished)} of 4 runs already trained")
    for p, (data, mtime) in finished.items():  # not redone
        assert p.read_bytes() == data and p.stat().st_mtime_ns == mtime
    assert len(list(cache.glob("runs/*/training.json"))) == 6  # 2 losses x 2 rates on seed 0, 2 losses on seed 1
    assert len(list(cache.glob("runs/*/result.json"))) == 4  # the chosen rate's runs are evaluated

    metrics = json.loads(paths["metrics"].read_text())
    timing = metrics["timing"]
    assert timing["runs_resumed"] == len(finished) and timing["runs_executed"] == 6 - len(finished)
    units = metrics["units"]
    assert len(units) == metrics["n_units"] == 2 * 3 and {u["seed"] for u in units} == {0, 1}
    # the test cases are the same for every seed
    assert sorted(u["case"] for u in units if u["seed"] == 0) == sorted(u["case"] for u in units if u["seed"] == 1)
    for loss in TINY.losses:
        lr = metrics["learning_rates"][loss]
        assert lr["chosen"] in TINY.lr_grid and set(lr["validation_f1"]) == {"0.001", "0.01"}
        assert all(metrics["runs"][f"{loss}/seed{s}"]["learning_rate"] == lr["chosen"] for s in TINY.seeds)
        curve = metrics["curves"]["per_loss"][loss]
        assert curve["iterations"] == [2, 4] and curve["runs"] == 2  # 3 training cases, batch 2: 2 steps per epoch
        assert all(lo <= m <= hi for lo, m, hi in zip(curve["low"], curve["mean"], curve["high"], strict=True))
        # only the bundle's default loss gets the shipped row
        assert ("shipped" in metrics["table"][loss]) == (loss == metrics["shipped"]["loss"])
        for op in ("fixed", "tuned"):
            for m in ("dice", "lesion_f1", "lesion_sensitivity", "lesion_precision", "small_lesion_recall",
                      "hd95_mm"):
                iv = metrics["table"][loss][op][m]
                values = metrics["per_unit"][loss][op][m]
                assert len(values) == len(units)  # the per-case values the interval came from
                defined = [v for v in values if v is not None]
                if defined:
                    assert iv["estimate"] == pytest.approx(sum(defined) / len(defined))
                    assert iv["low"] <= iv["estimate"] + 1e-12 and iv["estimate"] <= iv["high"] + 1e-12
            assert set(metrics["degenerate"][loss][op]) == {"volume_ratio", "spanning_share", "degenerate"}
            assert len(metrics["per_unit_other_matching"][loss][op]) == len(units)
        counts = metrics["per_unit_counts"][loss]
        assert len(counts["froc_detected"]) == len(units) and len(counts["froc_detected"][0]) == len(TINY.thresholds)
        froc = metrics["froc"][loss]
        assert len(froc["fp_per_case"]) == len(TINY.thresholds) and len(froc["sensitivity_at_rates"]) == 7
        op = metrics["validation"]["losses"][loss]
        assert op["threshold"] in TINY.thresholds and op["min_size_mm3"] in TINY.min_sizes_mm3
    assert metrics["curves"]["budget"]["checked"][0] == "dice"
    from monai_segloss.app.shipped import bundle_dir
    from monai_segloss.app.study import BUNDLE, shipped_loss, shipped_operating_point

    threshold, min_size = shipped_operating_point(bundle_dir(BUNDLE))  # what the bundle ships: its default loss
    assert metrics["shipped"] == {"loss": shipped_loss(bundle_dir(BUNDLE)), "threshold": threshold,
                                  "min_size_mm3": min_size}
    paired = metrics["paired"]["focal_tversky"]["tuned"]["lesion_f1"]
    assert set(paired) >= {"difference", "p_value", "wins", "losses", "ties"}
    assert "cpm_vs_baseline" in metrics["froc"]["focal_tversky"] and "dice" not in metrics["paired"]
    for ranked in metrics["ranking"].values():  # two losses: ranks 1 and 2 (or a tie), first shares summing to 1
        assert sorted(ranked) == sorted(TINY.losses) and sum(r["first"] for r in ranked.values()) == pytest.approx(1)
        assert sorted(r["rank"] for r in ranked.values()) in ([1.0, 2.0], [1.5, 1.5])
    assert "## How stable is the ranking" in paths["report"].read_text()
    # one loss against dice: a family of one comparison, whose simultaneous interval is its own
    for cmp in (paired, metrics["froc"]["focal_tversky"]["cpm_vs_baseline"],
                next(iter(metrics["validation"]["best_vs"].values()))):
        own = cmp.get("difference", cmp)
        assert cmp["simultaneous"]["family"] == 1 and cmp["simultaneous"]["level"] == 0.95
        assert (cmp["simultaneous"]["low"], cmp["simultaneous"]["high"]) == pytest.approx((own["low"], own["high"]),
                                                                                         nan_ok=True)

    text = paths["report"].read_text()
    assert "| `dice`" in text and "| `focal_tversky`" in text and "Paired differences against `dice`" in text
    assert "## Learning curves and the budget" in text and "## Learning rate per loss" in text
    assert "no significant difference" in text or "higher by" in text or "lower by" in text or "not compared" in text
    from monai_segloss.app.evidence import evidence_summary

    evidence = evidence_summary(metrics)  # what profile cites, from the converged protocol's metrics.json
    assert evidence["losses"]["dice"]["learning_rate"] == metrics["learning_rates"]["dice"]["chosen"]
    assert isinstance(evidence["losses"]["focal_tversky"]["degenerate_tuned"], bool)
    ship = metrics["shipped"]["loss"]  # studied here (dice) or not: a held-out number only when studied
    assert evidence["shipped"]["loss"] == ship and ("test_lesion_f1" in evidence["shipped"]) == (ship in TINY.losses)
    if ship in TINY.losses:
        assert evidence["shipped"]["test_lesion_f1"]["estimate"] == \
            metrics["table"][ship]["shipped"]["lesion_f1"]["estimate"]
    assert "## BraTS 2023 lesion-wise scores" in text
    assert set(metrics["brats2023"]["dice"]["tuned"]) == {"lesion_dice", "lesion_hd95", "f1"}
    # every key the report says metrics.json holds is there (at the top level or one level down)
    import re

    said = set(re.findall(r"metrics\.json (?:as|under) `?([a-z0-9_]+)`?", text))
    assert said >= {"per_unit_other_matching", "cpm_step_reading"}

    def holds(d: object, key: str, depth: int = 3) -> bool:
        return isinstance(d, dict) and (key in d or (depth > 0 and any(holds(v, key, depth - 1) for v in d.values())))

    assert all(holds(metrics, k) for k in said), said
    assert str(tmp_path) not in text and "/work/" not in text  # no absolute path of the machine
    for name in FIGURES.values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    # everything finished: another report folder, or another setting holding the same runs, trains nothing
    again: list[str] = []
    run_study(TINY, out_dir=tmp_path / "again", cache_dir=cache, workers=1, echo=again.append, losses=["dice"])
    assert again[0].startswith("learning rates: 2 of 2 runs already trained")
    assert again[1].startswith("training: 1 of 1 runs already trained")
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["timing"]["runs_executed"] == 0


def test_the_shipped_configuration_is_scored_on_its_loss_only(tmp_path, monkeypatch):
    """The bundle's default loss (here tversky) gets a held-out row at the bundle's operating point, in shipped.json; a
    changed operating point re-scores only those runs."""
    import dataclasses

    from monai_segloss.app import study

    one = dataclasses.replace(TINY, losses=("dice", "tversky"), seeds=(0,), lr_grid=(1e-2,))
    out, cache = tmp_path / "r", tmp_path / "c"
    monkeypatch.setattr(study, "shipped_loss", lambda bundle: "tversky")  # whatever the bundle ships today
    # at the fixed operating point (0.5, no minimum size) the shipped rows must equal the fixed ones
    monkeypatch.setattr(study, "shipped_operating_point", lambda bundle: (0.5, 0.0))
    run_study(one, out_dir=out, cache_dir=cache, workers=1, echo=lambda s: None)
    assert [p.parent.name.split("-")[0] for p in cache.glob("runs/*/shipped.json")] == ["tversky"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["table"]["tversky"]) == {"fixed", "tuned", "shipped"}
    assert set(metrics["table"]["dice"]) == {"fixed", "tuned"} and "shipped" not in metrics["paired"]["tversky"]
    assert metrics["per_unit"]["tversky"]["shipped"] == metrics["per_unit"]["tversky"]["fixed"]
    assert metrics["brats2023"]["tversky"]["shipped"] == metrics["brats2023"]["tversky"]["fixed"]
    assert "| `tversky` |" in (out / "report.md").read_text().split("## The bundle's shipped configuration")[1]
    from monai_segloss.app.evidence import evidence_summary

    assert evidence_summary(metrics)["shipped"]["test_lesion_f1"]["estimate"] == \
        metrics["table"]["tversky"]["fixed"]["lesion_f1"]["estimate"]

    results = {p: p.stat().st_mtime_ns for p in cache.glob("runs/*/result.json")}
    monkeypatch.setattr(study, "shipped_operating_point", lambda bundle: (0.9, 64.0))
    said: list[str] = []
    study.report_study(out, echo=said.append)  # the merge names what the new point lacks, and reports the rest
    assert said[0].startswith("not scored at the bundle's shipped operating point (1): tversky lr0.01 s0; "), said
    assert not any(line.startswith(("missing runs", "the report holds")) for line in said), said
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["table"]) == {"dice", "tversky"} and set(metrics["table"]["tversky"]) == {"fixed", "tuned"}
    assert "has not been scored at its current operating point (threshold 0.9, minimum lesion size 64 mm³)" in \
        (out / "report.md").read_text().split("## The bundle's shipped configuration")[1]
    run_study(one, out_dir=out, cache_dir=cache, workers=1, echo=lambda s: None)
    assert {p: p.stat().st_mtime_ns for p in cache.glob("runs/*/result.json")} == results  # not re-evaluated
    shipped = json.loads(next(cache.glob("runs/tversky*/shipped.json")).read_text())
    assert shipped["shipped"] == {"threshold": 0.9, "min_size_mm3": 64.0}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["shipped"] == {"loss": "tversky", "threshold": 0.9, "min_size_mm3": 64.0}
    rows = shipped["labels"]["1"]["test"]
    for m in ("dice", "lesion_f1", "pred_voxels"):  # the report's shipped rows are shipped.json's, unit by unit
        mine = [rows[u["case"]][m] for u in metrics["units"]]
        if m == "pred_voxels":
            assert metrics["degenerate"]["tversky"]["shipped"]["volume_ratio"] == pytest.approx(
                sum(mine) / sum(rows[u["case"]]["target_voxels"] for u in metrics["units"]))
            continue
        theirs = [math.nan if v is None else v for v in metrics["per_unit"]["tversky"]["shipped"][m]]
        assert theirs == pytest.approx(mine, nan_ok=True)


def test_the_demo_command_reaches_the_study(monkeypatch):
    """``monai-segloss demo`` (what ``make demo`` runs) has no ``study`` action or folder: it starts the default
    setting with its own options, and ``study report`` without a folder says what it needs."""
    from monai_segloss.app import cli, study

    calls: list[tuple] = []
    monkeypatch.setattr(study, "run_study", lambda setting, **kw: calls.append((setting, kw)))
    args = build_parser().parse_args(["demo", "--runs-dir", "runs", "--out", "o", "--cache-dir", "c"])
    assert cli._study(args) == 0
    assert calls == [("default", {"out_dir": "o", "cache_dir": "c", "workers": None, "threads": None, "losses": None,
                                  "seeds": None, "runs_dir": "runs", "shard": None})]
    assert cli._study(build_parser().parse_args(["study", "report"])) == 2
    # --retrain: the setting without the runs it would take from the committed full study
    with_reuse = dataclasses.replace(study.SETTINGS["default"], reuse=("dice_ce",))
    monkeypatch.setitem(study.SETTINGS, "default", with_reuse)
    assert cli._study(build_parser().parse_args(["demo", "--retrain", "--out", "o"])) == 0
    assert calls[-1][0] == dataclasses.replace(with_reuse, reuse=()) and calls[-1][1]["out_dir"] == "o"
    assert cli._study(build_parser().parse_args(["demo", "--out", "o"])) == 0
    assert calls[-1][0] == "default"


def test_a_rate_chosen_at_the_grid_edge_is_extended(tmp_path):
    """With two rates every choice is an edge: one more rate beyond it is trained, and the choice is made again."""
    import dataclasses

    from monai_segloss.app.study import next_rate

    assert next_rate([1e-3, 3e-3, 1e-2], 1e-2) == 0.03 and next_rate([1e-3, 3e-3, 1e-2], 1e-3) == 0.0003
    assert next_rate([1e-3, 3e-3, 1e-2], 3e-3) is None and next_rate([3e-3], 3e-3) is None
    one = dataclasses.replace(TINY, losses=("dice",), seeds=(0,), lr_extend=1)
    lines: list[str] = []
    paths = run_study(one, out_dir=tmp_path / "r", cache_dir=tmp_path / "c", workers=1, echo=lines.append)
    metrics = json.loads(paths["metrics"].read_text())
    tried = metrics["learning_rates"]["dice"]["validation_f1"]
    assert len(tried) == 3 and set(tried) >= {"0.001", "0.01"} and ({"0.0001", "0.1"} & set(tried))
    assert metrics["timing"]["runs_executed"] == 3 and metrics["timing"]["runs_resumed"] == 0
    assert len(list((tmp_path / "c").glob("runs/*/training.json"))) == 3


def test_losses_keep_only_the_reused_runs_of_the_losses_they_name():
    """``--losses`` on a setting that reuses committed runs keeps the reuse of the named losses only."""
    from monai_segloss.app.study import _resolve_setting

    default = dataclasses.replace(SETTINGS["default"], reuse=("dice", "dice_ce"))
    assert _resolve_setting(default, ["dice_ce"], None).reuse == ("dice_ce",)
    assert _resolve_setting(default, ["focal", "dice"], None).reuse == ("dice",)
    assert _resolve_setting(default, ["focal"], None).reuse == ()
    with pytest.raises(ValueError, match="lr_grid must hold distinct positive learning rates"):
        dataclasses.replace(TINY, lr_grid=(1e-3, 1e-3))


def test_training_fingerprint_ignores_paths_and_the_default_loss(tmp_path):
    """The fingerprint reads the training sections of train.json and the override file: a changed checkpoint
    folder or default loss keeps finished runs, a changed optimiser or override does not."""
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    train = bundle / "configs" / "train.json"
    before = training_config_digest(bundle, "dice")
    config = json.loads(train.read_text())
    config["ckpt_dir"] = "$@bundle_root + '/models/elsewhere'"
    config["loss"] = {"_target_": "monai_segloss.SegDiceLoss", "softmax": True}
    config["lesion_threshold"] = 0.3
    train.write_text(json.dumps(config))
    assert training_config_digest(bundle, "dice") == before
    config["optimizer"]["weight_decay"] = 1e-4
    train.write_text(json.dumps(config))
    changed = training_config_digest(bundle, "dice")
    assert changed != before
    override = bundle / "configs" / "dice.json"
    body = json.loads(override.read_text())
    body["loss"]["batch"] = False
    override.write_text(json.dumps(body))
    assert training_config_digest(bundle, "dice") != changed


def test_a_reused_loss_copies_the_committed_run_and_only_the_others_train(tmp_path, monkeypatch):
    import monai_segloss.app.study as study

    one = dataclasses.replace(TINY, seeds=(0,), learning_rates=(("dice", 1e-2), ("focal_tversky", 1e-2)))
    committed = tmp_path / "committed"
    run_study(one, out_dir=tmp_path / "full", cache_dir=tmp_path / "cache", workers=1, echo=lambda s: None,
              runs_dir=committed, train_only=True)
    (ft,) = committed.glob("focal_tversky-*")
    monkeypatch.setattr(study, "COMMITTED_RUNS", committed)
    lines: list[str] = []
    paths = run_study(dataclasses.replace(one, reuse=("focal_tversky",)), out_dir=tmp_path / "demo",
                      cache_dir=tmp_path / "cache", workers=1, echo=lines.append, runs_dir=tmp_path / "runs",
                      threads=1)
    assert lines[0] == f"focal_tversky lr0.01 s0: the full study's committed run ({ft.parent.name}/{ft.name}), " \
                       "not trained here"
    copy = tmp_path / "runs" / ft.name
    assert (copy / "model.pt").read_bytes() == (ft / "model.pt").read_bytes()
    assert (copy / "result.json").is_file() and not (ft / "result.json").exists()  # evaluated here, not there
    timing = json.loads(paths["metrics"].read_text())["timing"]
    assert (timing["runs_resumed"], timing["runs_executed"]) == (1, 1)  # dice trained, focal_tversky copied
    assert (timing["workers"], timing["threads_per_worker"]) == (1, 1)
    assert "- **precomputed**: the runs of `focal_tversky` are the full study's committed ones" in \
        paths["report"].read_text()
    # a committed folder without the run: it trains
    monkeypatch.setattr(study, "COMMITTED_RUNS", tmp_path / "nothing")
    lines.clear()
    run_study(dataclasses.replace(one, reuse=("dice",)), out_dir=tmp_path / "demo2", cache_dir=tmp_path / "cache",
              workers=1, echo=lines.append, runs_dir=tmp_path / "runs2", train_only=True)
    assert lines[0].startswith("dice lr0.01 s0: no committed run dice-lr0.01-seed0-") and "training it here" in \
        lines[0]
    assert len(list((tmp_path / "runs2").glob("*/model.pt"))) == 2
    with pytest.raises(ValueError, match="reuse must name losses of the setting"):
        dataclasses.replace(one, reuse=("tversky",))


@pytest.mark.slow
def test_quick_setting_end_to_end(tmp_path):
    """`monai-segloss demo --quick` as a user runs it (about 2 minutes on 2 cores): the command line, the data
    generation, both worker processes and the report."""
    from monai_segloss.app.cli import main

    out, cache = tmp_path / "report", tmp_path / "cache"
    assert main(["demo", "--quick", "--out", str(out), "--cache-dir", str(cache)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    quick = SETTINGS["quick"]
    assert metrics["setting_values"]["name"] == "quick" and list(metrics["table"]) == list(quick.losses)
    assert metrics["timing"]["runs_executed"] == len(quick.losses) * len(quick.seeds)
    assert metrics["data"]["num_cases"] == quick.num_cases
    text = (out / "report.md").read_text()
    assert all(f"| `{loss}` |" in text for loss in quick.losses) and str(tmp_path) not in text


def test_finding_states_a_difference_only_when_the_interval_excludes_zero():
    sig = {"difference": {"estimate": 0.12, "low": 0.03, "high": 0.2, "n": 36}, "p_value": 0.004}
    assert finding("focal_tversky", "dice", "lesion F1", sig) == (
        "`focal_tversky` vs `dice`, lesion F1: higher by 0.120 (95 % CI +0.030 to +0.200; Wilcoxon p = 0.004; "
        "36 units).")
    neg = {"difference": {"estimate": -0.05, "low": -0.09, "high": -0.01, "n": 36}, "p_value": 0.03}
    assert "lower by 0.050" in finding("x", "dice", "Dice", neg)
    ns = {"difference": {"estimate": -0.02, "low": -0.08, "high": 0.04, "n": 36}, "p_value": 0.41}
    assert finding("x", "dice", "lesion F1", ns) == (
        "`x` vs `dice`, lesion F1: no significant difference (−0.020, 95 % CI −0.080 to +0.040; Wilcoxon p = "
        "0.410; 36 units).")
    undefined = {"difference": {"estimate": math.nan, "low": math.nan, "high": math.nan, "n": 0}, "p_value": math.nan}
    assert "not defined" in finding("x", "dice", "HD95", undefined)
    # in a family of comparisons (every loss against dice) the simultaneous interval must exclude zero too
    among = {**neg, "simultaneous": {"low": -0.12, "high": 0.01, "level": 0.994, "family": 9}}
    assert finding("x", "dice", "Dice", among) == (
        "`x` vs `dice`, Dice: no significant difference after the correction for 9 comparisons (−0.050; 95 % CI "
        "−0.090 to −0.010 on its own, simultaneous 95 % CI −0.120 to +0.010; Wilcoxon p = 0.030; 36 units).")
    held = {**neg, "simultaneous": {"low": -0.12, "high": -0.001, "level": 0.994, "family": 9}}
    assert finding("x", "dice", "Dice", held) == (
        "`x` vs `dice`, Dice: lower by 0.050 (95 % CI −0.090 to −0.010, simultaneous 95 % CI −0.120 to −0.001 over 9 "
        "comparisons; Wilcoxon p = 0.030; 36 units).")
    wide = {**ns, "simultaneous": among["simultaneous"]}  # not significant on its own: nothing more to say
    assert finding("x", "dice", "Dice", wide) == finding("x", "dice", "Dice", ns)
    assert "on this seed's networks only" in finding("x", "dice", "Dice", among, seeds=1)


def test_every_comparison_with_the_baseline_gets_its_interval_among_the_family():
    from monai_segloss.app.analysis import _add_simultaneous
    from monai_segloss.evaluation.statistics import bootstrap_weights, simultaneous_paired_intervals

    rng = np.random.default_rng(0)
    w = bootstrap_weights(["s"] * 30, 1000, seed=0)
    base = rng.random(30)
    pairs = {loss: (base + shift + 0.05 * rng.normal(size=30), base) for loss, shift in
             (("a", 0.02), ("b", 0.0), ("c", -0.03))}
    comparisons: dict = {loss: {"difference": {}} for loss in pairs}
    _add_simultaneous(comparisons, pairs, w)
    family, level = simultaneous_paired_intervals(list(pairs.values()), w)
    for loss, iv in zip(pairs, family, strict=True):
        assert comparisons[loss]["simultaneous"] == {"low": iv.low, "high": iv.high, "level": level, "family": 3}
    assert level > 0.95
    _add_simultaneous({}, {}, w)  # a study of one loss: no comparison


def test_numbers_print_round_off_as_zero_and_keep_small_values():
    from monai_segloss.app.report import _num, _signed

    assert (_num(2.1e-18), _signed(2.1e-18), _signed(-3e-17)) == ("0.000", "±0.000", "±0.000")
    assert (_num(3.7e-4), _signed(-3.7e-4), _signed(0.0123), _num(0.04, "hd95_mm")) == (
        "3.7e-04", "−3.7e-04", "+0.012", "4.0e-02")


def test_the_ranking_table_orders_the_losses_by_their_lesion_f1_rank():
    from monai_segloss.app.report import _ranking_lines

    def r(rank: float, low: float, high: float, first: float) -> dict:
        return {"rank": rank, "low": low, "high": high, "first": first}

    analysis = {"ranking": {"lesion_f1": {"dice": r(2, 1, 3, 0.3), "focal": r(3, 2, 3, 0), "tversky": r(1, 1, 2, 0.7)},
                            "dice": {"dice": r(1, 1, 1, 1.0), "focal": r(2.5, 2, 3, 0), "tversky": r(2.5, 2, 3, 0)}},
                "degenerate": {"focal": {"tuned": {"degenerate": True}}}}
    lines = _ranking_lines(analysis)
    assert lines[2] == ("| loss | rank by lesion F1 [95 % interval] | first by lesion F1 | rank by voxel Dice [95 % "
                        "interval] | first by voxel Dice |")
    assert lines[4:] == ["| `tversky` | 1 [1, 2] | 70 % | 2.5 [2, 3] | 0 % |",
                         "| `dice` | 2 [1, 3] | 30 % | 1 [1, 1] | 100 % |",
                         "| `focal` (degenerate) | 3 [2, 3] | 0 % | 2.5 [2, 3] | 0 % |"]
    assert _ranking_lines({}) == []


def test_paired_tables_mark_the_differences_that_hold_among_the_family():
    from monai_segloss.app.analysis import METRICS
    from monai_segloss.app.report import _family_sentence, _paired_table

    def cmp(low: float, high: float, sim_high: float) -> dict:
        return {"difference": {"estimate": (low + high) / 2, "low": low, "high": high, "n": 40}, "p_value": 0.01,
                "simultaneous": {"low": low - 0.02, "high": sim_high, "level": 0.99, "family": 2}}

    analysis = {"baseline": "dice",
                "paired": {"a": {"tuned": {m: cmp(-0.05, -0.01, -0.001) for m in METRICS}},
                           "b": {"tuned": {m: cmp(-0.05, -0.01, 0.003) for m in METRICS}}},
                "froc": {"a": {"cpm_vs_baseline": cmp(0.01, 0.03, 0.04)["difference"]},
                         "b": {"cpm_vs_baseline": {**cmp(0.01, 0.03, 0.04)["difference"],
                                                   "simultaneous": {"low": 0.001, "high": 0.04, "family": 2}}}}}
    rows = _paired_table(analysis, "tuned").splitlines()[2:]
    assert rows[0].count(" *") == len(METRICS) and rows[1].count(" *") == 1 and rows[1].endswith("+0.030] * |")
    assert "Each column compares 2 losses with the baseline. A cell marked * holds after the correction" in \
        _family_sentence(analysis) and "here 99.0–99.0 %, against 97.5 % for Bonferroni)" in _family_sentence(analysis)
    assert _family_sentence({"paired": {"a": {"tuned": {"dice": {"difference": {}}}}}}) == ""


def test_settings_and_command_line():
    default, full = SETTINGS["default"], SETTINGS["full"]
    assert len(full.seeds) >= 5 and set(full.losses) >= {*default.losses, "dice_ce", "dice_topk", "dice_focal",
                                                           "unified_focal", "focal_tversky", "tversky", "focal",
                                                           "blob", "boundary"}
    assert full.test_cases >= 40 and len(full.lr_grid) >= 3
    for s in SETTINGS.values():
        for loss in s.losses:  # every loss has its bundle override file
            assert (BUNDLE / "configs" / f"{loss}.json").is_file(), loss
    args = build_parser().parse_args(["study", "--setting", "full", "--seeds", "0", "1", "--workers", "1",
                                      "--runs-dir", "docs/study/full/runs", "--threads", "1"])
    assert (args.setting, args.seeds, args.workers, args.out, args.runs_dir, args.threads) == (
        "full", [0, 1], 1, "study_report", "docs/study/full/runs", 1)
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        run_study(SETTINGS["quick"], out_dir=Path("/nonexistent-never-created"), threads=0)
    demo = build_parser().parse_args(["demo", "--quick"])
    assert demo.quick and demo.out == "demo_report" and demo.setting == "default"
    with pytest.raises(ValueError, match="thresholds"):
        StudySetting(name="x", thresholds=(0.2, 0.4))
    with pytest.raises(ValueError, match="losses"):
        StudySetting(name="x", losses=("dice", "dice"))
    with pytest.raises(ValueError, match="test_cases"):
        StudySetting(name="x", num_cases=10, test_cases=9)
    with pytest.raises(ValueError, match="lr_seed"):
        StudySetting(name="x", seeds=(1, 2), lr_seed=0)
    with pytest.raises(ValueError, match="no override file configs/jaccard.json"):
        run_study(StudySetting(name="x", losses=("jaccard",)), out_dir=Path("/nonexistent-never-created"))


# The training fingerprints of the full setting (1600 epochs) when its runs were committed
# (docs/study/full/runs/), with a stand-in split digest (the split itself comes from the generated data). A
# change here means every committed run of the full study is trained again: change the training sections of
# train.json, an override file or the full setting only on purpose, then update these values.
FULL_FINGERPRINTS = {
    "dice": "94aba150ce43dcf5",
    "dice_ce": "ce5f52c9ec0a1fec",
    "dice_topk": "3898bff5801002af",
    "dice_focal": "150663f6c5abfb90",
    "unified_focal": "b824e1fea723aa2d",
    "focal_tversky": "0dcb84f61576647e",
    "tversky": "b3c6cd0b40688ffd",
    "focal": "015ab36cbc032832",
    "blob": "7ca8e221bfd5328d",
    "boundary": "999d885a93051fb4",
}


def test_the_demo_runs_are_the_full_studys_seed_0_runs():
    """``make demo`` copies the committed seed-0 runs of its losses (reuse): that holds only while the default
    setting trains them exactly as the full setting does (the same fingerprint, so the same run folder)."""
    from monai_segloss.app.study import training_fingerprint

    default, full = SETTINGS["default"], SETTINGS["full"]
    assert default.reuse == default.losses and set(default.losses) <= set(full.losses) and 0 in full.seeds
    assert default.epochs == full.epochs
    rates = dict(full.learning_rates)
    assert dict(default.learning_rates) == {loss: rates[loss] for loss in default.losses}
    for loss in default.losses:
        assert training_fingerprint(default, BUNDLE, loss, 0, rates[loss], "split") == \
            training_fingerprint(full, BUNDLE, loss, 0, rates[loss], "split"), loss
    # a setting that differs in what it trains does not get the full study's folder
    assert training_fingerprint(dataclasses.replace(default, epochs=800), BUNDLE, "dice", 0, 3e-3, "split") != \
        training_fingerprint(full, BUNDLE, "dice", 0, 3e-3, "split")


def test_the_committed_full_study_runs_stay_current():
    from monai_segloss.app.study import FULL_LOSSES, training_fingerprint

    full = SETTINGS["full"]
    assert tuple(FULL_FINGERPRINTS) == FULL_LOSSES == full.losses
    now = {loss: training_fingerprint(full, BUNDLE, loss, 0, 3e-3, "split")[:16] for loss in FULL_LOSSES}
    assert now == FULL_FINGERPRINTS, "the full study's committed runs would be retrained (comment above)"
