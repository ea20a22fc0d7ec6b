"""`monai-segloss study` end to end on a tiny setting: a killed study resumes without redoing finished runs, and the
report holds the tables with intervals, the paired comparisons, the FROC/CPM, the operating points and the figures."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monai_segloss.app.cli import build_parser
from monai_segloss.app.report import FIGURES, finding
from monai_segloss.app.study import SETTINGS, StudySetting, _specs, run_study

pytest.importorskip("nilearn")

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky"

# 6 brain cases at 4 mm (~ 40 x 48 x 42 voxels), 2 losses x 2 seeds, one short epoch each
TINY = StudySetting(name="tiny", losses=("dice", "focal_tversky"), seeds=(0, 1), num_cases=6, spacing=4.0,
                    val_frac=0.34, test_frac=0.34, channels=(8, 16), patch=(24, 24, 24), epochs=1, num_samples=1,
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
        while not list(cache.glob("runs/*/result.json")):
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
    finished = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cache.glob("runs/*/result.json")}
    assert 1 <= len(finished) < 4 and not (out / "report.md").exists()
    lines: list[str] = []
    paths = run_study(TINY, out_dir=out, cache_dir=cache, workers=1, echo=lines.append)
    assert lines[0].startswith(f"resuming: {len(finished)} of 4 runs already finished")
    for p, (data, mtime) in finished.items():  # not redone
        assert p.read_bytes() == data and p.stat().st_mtime_ns == mtime
    assert len(list(cache.glob("runs/*/result.json"))) == 4

    metrics = json.loads(paths["metrics"].read_text())
    timing = metrics["timing"]
    assert timing["runs_resumed"] == len(finished) and timing["runs_executed"] == 4 - len(finished)
    units = metrics["units"]
    assert len(units) == metrics["n_units"] == 2 * 2 and {u["seed"] for u in units} == {0, 1}
    for loss in TINY.losses:
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
        froc = metrics["froc"][loss]
        assert len(froc["fp_per_case"]) == len(TINY.thresholds) and len(froc["sensitivity_at_rates"]) == 7
        op = metrics["validation"]["losses"][loss]
        assert op["threshold"] in TINY.thresholds and op["min_size_mm3"] in TINY.min_sizes_mm3
    paired = metrics["paired"]["focal_tversky"]["tuned"]["lesion_f1"]
    assert set(paired) >= {"difference", "p_value", "wins", "losses", "ties"}
    assert "cpm_vs_baseline" in metrics["froc"]["focal_tversky"] and "dice" not in metrics["paired"]

    text = paths["report"].read_text()
    assert "| `dice` |" in text and "| `focal_tversky` |" in text and "Paired differences against `dice`" in text
    assert "no significant difference" in text or "higher by" in text or "lower by" in text
    assert str(tmp_path) not in text and "/work/" not in text  # no absolute path of the machine
    for name in FIGURES.values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    # everything finished: another report folder, or another setting holding the same runs, trains nothing
    again: list[str] = []
    run_study(TINY, out_dir=tmp_path / "again", cache_dir=cache, workers=1, echo=again.append, seeds=[1])
    assert again[0].startswith("resuming: 2 of 2 runs")


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


def test_settings_and_command_line():
    default, full, quick = SETTINGS["default"], SETTINGS["full"], SETTINGS["quick"]
    assert default.losses == ("dice", "dice_ce", "focal_tversky", "unified_focal") and len(default.seeds) >= 3
    assert len(full.seeds) >= 5 and set(full.losses) >= {*default.losses, "tversky", "focal", "blob", "boundary"}
    assert quick.losses == default.losses
    for s in SETTINGS.values():
        for loss in s.losses:  # every loss has its bundle override file
            assert (BUNDLE / "configs" / f"{loss}.json").is_file(), loss
    args = build_parser().parse_args(["study", "--setting", "full", "--seeds", "0", "1", "--workers", "1"])
    assert (args.setting, args.seeds, args.workers, args.out) == ("full", [0, 1], 1, "study_report")
    demo = build_parser().parse_args(["demo", "--quick"])
    assert demo.quick and demo.out == "demo_report" and demo.setting == "default"
    with pytest.raises(ValueError, match="thresholds"):
        StudySetting(name="x", thresholds=(0.2, 0.4))
    with pytest.raises(ValueError, match="losses"):
        StudySetting(name="x", losses=("dice", "dice"))
    with pytest.raises(ValueError, match="no override file configs/jaccard.json"):
        _specs(StudySetting(name="x", losses=("jaccard",)), Path("."), Path("."), BUNDLE, Path("."))
