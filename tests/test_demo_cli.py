"""The short demo and the command line run end to end."""

import numpy as np
import pytest

from monai_segloss.cli import build_parser
from monai_segloss.demo import make_volumes, run_demo


def test_make_volumes_are_deterministic_and_labelled():
    a_img, a_lab = make_volumes(2, 12, np.random.default_rng(3))
    b_img, b_lab = make_volumes(2, 12, np.random.default_rng(3))
    assert a_img.shape == (2, 1, 12, 12, 12) and a_lab.shape == (2, 1, 12, 12, 12)
    assert (a_img == b_img).all() and (a_lab == b_lab).all()
    assert set(np.unique(a_lab.numpy())) == {0.0, 1.0}
    # lesions are brighter than the background on average
    assert a_img[a_lab > 0].mean() > a_img[a_lab == 0].mean() + 0.5


def test_run_demo_reports_metrics_in_range():
    results = run_demo(steps=3, seed=1, losses=["dice", "focal_tversky"], size=12)
    assert set(results) == {"dice", "focal_tversky"}
    for r in results.values():
        assert 0.0 <= r["dice"] <= 1.0 and 0.0 <= r["lesion_hit_rate"] <= 1.0
        assert np.isfinite(r["final_loss"]) and r["seconds"] > 0


def test_cli_rejects_unknown_command():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["nope"])
