"""The demo report writer: files, table and findings read off the numbers."""

import json

import numpy as np

from monai_segloss.app.report import Example, LossRun, write_report


def _run(key, recall_small, f1):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(16, 16))
    tgt = np.zeros((16, 16))
    tgt[4:7, 4:7] = 1
    return LossRun(key=key, metrics={"dice": 0.5, "lesion_sensitivity": 0.6, "lesion_precision": 0.7,
                                     "lesion_f1": f1, "small_lesion_recall": recall_small, "hd95_mm": float("nan"),
                                     "train_seconds": 12.0},
                   recall_by_size={"< 100 voxels": recall_small, ">= 100 voxels": 1.0},
                   lesions_by_size={"< 100 voxels": 4, ">= 100 voxels": 2},
                   train_loss=[(1, 0.9), (2, 0.8)], val_metric=[(1, 0.2), (2, f1)],
                   examples=[Example("case_0", img, tgt, tgt)])


def test_write_report_files_and_findings(tmp_path):
    runs = [_run("dice", 0.25, 0.4), _run("focal_tversky", 0.75, 0.5)]
    paths = write_report(tmp_path, runs, {"data": "synthetic", "seed": 0})
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    for key in ("curves", "recall", "examples"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = paths["report"].read_text()
    assert "| `focal_tversky` | 0.500 | 0.600 | 0.700 | 0.500 | 0.750 | – | 12.0 |" in text
    assert "Highest small-lesion recall: `focal_tversky` (0.750)" in text
    assert "`focal_tversky` small-lesion recall 0.750 is higher than Dice's 0.250" in text
    data = json.loads(paths["metrics"].read_text())
    assert data["losses"]["dice"]["metrics"]["lesion_f1"] == 0.4
    assert data["losses"]["dice"]["recall_by_size"]["< 100 voxels"] == 0.25
