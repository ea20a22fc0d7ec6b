"""`monai-segloss demo --quick` end to end, and the command line."""

import json
import math

import pytest

from monai_segloss.app.cli import build_parser, main


@pytest.mark.slow
def test_quick_demo_writes_report_metrics_and_figures(tmp_path):
    out, cache = tmp_path / "report", tmp_path / "cache"
    assert main(["demo", "--quick", "--out", str(out), "--cache-dir", str(cache),
                 "--losses", "dice", "focal_tversky"]) == 0
    for name in ("report.md", "metrics.json", "training_curves.png", "recall_by_size.png", "examples.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "metrics.json").read_text())
    assert set(data["losses"]) == {"dice", "focal_tversky"}
    for run in data["losses"].values():
        m = run["metrics"]
        for key in ("dice", "lesion_sensitivity", "lesion_precision", "lesion_f1", "small_lesion_recall"):
            assert math.isnan(m[key]) or 0.0 <= m[key] <= 1.0, key
        assert m["train_seconds"] > 0
        assert len(run["train_loss"]) > 0 and all(math.isfinite(v) for _, v in run["train_loss"])
        assert sum(run["lesions_by_size"].values()) > 0  # the held-out cases hold lesions
    text = (out / "report.md").read_text()
    assert "| `dice` |" in text and "| `focal_tversky` |" in text
    # the cached data are reused: a second run does not regenerate (dataset.json untouched)
    stamp = next(cache.glob("*/dataset.json")).stat().st_mtime_ns
    assert main(["demo", "--quick", "--out", str(tmp_path / "again"), "--cache-dir", str(cache),
                 "--losses", "dice"]) == 0
    assert next(cache.glob("*/dataset.json")).stat().st_mtime_ns == stamp


def test_cli_rejects_unknown_command():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["nope"])


def test_demo_rejects_loss_without_override(tmp_path):
    from monai_segloss.app.demo import QUICK, train_and_evaluate

    with pytest.raises(ValueError, match="no override file for loss 'jaccard'"):
        train_and_evaluate("jaccard", QUICK, tmp_path, tmp_path, 0)
