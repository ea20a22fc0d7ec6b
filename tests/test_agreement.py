"""The demo against the full study: a significant difference of the smaller study never has the opposite sign in the
larger one (issue 20, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monai_segloss.app.agreement import sign_conflicts, significant_differences

REPO = Path(__file__).resolve().parents[1]


def _iv(estimate: float, low: float, high: float) -> dict:
    return {"difference": {"estimate": estimate, "low": low, "high": high, "n": 40}}


def _metrics(paired: dict, cpm: dict | None = None, baseline: str = "dice") -> dict:
    froc = {loss: {"cpm_vs_baseline": iv["difference"]} for loss, iv in (cpm or {}).items()}
    return {"baseline": baseline, "paired": paired, "froc": froc}


def test_significant_differences_and_conflicts():
    demo = _metrics({"dice_ce": {"tuned": {"lesion_f1": _iv(-0.03, -0.11, 0.03),       # not significant
                                           "small_lesion_recall": _iv(0.061, 0.010, 0.111),
                                           "lesion_precision": _iv(-0.05, -0.09, -0.01)},
                                 "fixed": {"dice": _iv(0.02, 0.001, 0.04)}}},
                    cpm={"dice_ce": _iv(0.04, 0.01, 0.07)})
    assert sorted(significant_differences(demo)) == [("dice_ce", "fixed", "dice"), ("dice_ce", "froc", "cpm"),
                                                     ("dice_ce", "tuned", "lesion_precision"),
                                                     ("dice_ce", "tuned", "small_lesion_recall")]
    full = _metrics({"dice_ce": {"tuned": {"lesion_f1": _iv(0.05, 0.01, 0.09),  # opposite sign, demo n.s.: fine
                                           "small_lesion_recall": _iv(0.01, -0.02, 0.04),  # same sign, n.s.: fine
                                           "lesion_precision": _iv(0.002, -0.03, 0.03)},  # opposite sign
                                 "fixed": {"dice": _iv(0.01, -0.01, 0.03)}}},
                    cpm={"dice_ce": _iv(-0.02, -0.05, 0.01)})  # opposite sign
    conflicts = sign_conflicts(demo, full)
    assert significant_differences({**demo, "n_seeds": 1}) == {} and sign_conflicts({**demo, "n_seeds": 1}, full) == []
    assert [(c["op"], c["metric"]) for c in conflicts] == [("tuned", "lesion_precision"), ("froc", "cpm")]
    assert conflicts[0]["small"]["estimate"] == -0.05 and conflicts[0]["full"]["estimate"] == 0.002
    # a claim the full study does not test is a conflict too
    del full["paired"]["dice_ce"]["fixed"]
    assert ("fixed", "dice") in [(c["op"], c["metric"]) for c in sign_conflicts(demo, full)]
    with pytest.raises(ValueError, match="different baselines"):
        sign_conflicts(demo, _metrics({}, baseline="tversky"))


def test_a_difference_lost_in_its_family_is_not_a_claim():
    """A study of several losses states a difference only when its simultaneous interval over the family of
    comparisons with the baseline excludes zero as well (the multiple-comparison correction)."""
    own = _iv(-0.05, -0.09, -0.01)
    lost = {**own, "simultaneous": {"low": -0.11, "high": 0.01, "level": 0.994, "family": 9}}
    held = {**own, "simultaneous": {"low": -0.10, "high": -0.002, "level": 0.994, "family": 9}}
    small = _metrics({"tversky": {"tuned": {"lesion_f1": lost, "dice": held}}})
    assert list(significant_differences(small)) == [("tversky", "tuned", "dice")]
    assert significant_differences(small)[("tversky", "tuned", "dice")] == own["difference"]
    full = _metrics({"tversky": {"tuned": {"lesion_f1": _iv(0.01, -0.02, 0.04), "dice": _iv(0.01, -0.02, 0.04)}}})
    assert [c["metric"] for c in sign_conflicts(small, full)] == ["dice"]  # the lost one claims nothing


def test_the_committed_demo_agrees_with_the_committed_full_study():
    demo, full = REPO / "docs" / "study" / "demo" / "metrics.json", REPO / "docs" / "study" / "full" / "metrics.json"
    if not demo.is_file():
        pytest.skip("the demo's report from the full study's runs is committed with the converged study")
    small, large = json.loads(demo.read_text()), json.loads(full.read_text())
    assert small["setting_values"]["epochs"] == large["setting_values"]["epochs"]  # the same budget
    assert sign_conflicts(small, large) == []
    # a one-seed demo states no difference between losses: an interval excluding 0 is said of its seed's networks
    findings = (demo.parent / "report.md").read_text().split("## Findings")[1].split("\n## ")[0].splitlines()
    stated = [line for line in findings if " by " in line]
    assert all("on this seed's networks only" in line for line in stated) == (small["n_seeds"] < 2), stated


@pytest.mark.parametrize("module", ["agreement", "study", "curves", "published", "report"])
def test_app_docstring_examples_run(module):
    """The ``>>>`` examples of the study's modules (the loss modules' run in test_signatures)."""
    import doctest
    import importlib

    mod = importlib.import_module(f"monai_segloss.app.{module}")
    failures, attempted = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 1 and failures == 0
