"""The study's learning curves and budget rule (monai_segloss.app.curves), on hand-made training records."""

from __future__ import annotations

import math

import pytest

from monai_segloss.app.curves import budget_check, loss_curve, plateau, run_curve
from monai_segloss.app.study import choose_learning_rate, final_f1

THRESHOLDS = [0.1, 0.5, 0.9]


def _record(points: list[tuple[int, dict[str, list[float]]]]) -> dict:
    return {"curve_thresholds": THRESHOLDS,
            "curve": [{"epoch": it // 10, "iteration": it, "f1": f1, "dice": {}} for it, f1 in points]}


def test_run_curve_takes_the_best_threshold_of_the_case_mean():
    # case a is best at 0.1, case b at 0.9: the case means per threshold are (0.5, 0.45, 0.4) and (0.2, 0.7, 0.6)
    rec = _record([(100, {"a": [0.9, 0.3, 0.0], "b": [0.1, 0.6, 0.8]}),
                   (200, {"a": [0.2, 0.8, 0.4], "b": [0.2, 0.6, 0.8]})])
    c = run_curve(rec)
    assert c["iterations"] == [100, 200]
    assert c["f1"] == pytest.approx([0.5, 0.7])
    assert c["f1_at_half"] == pytest.approx([0.45, 0.7])


def test_run_curve_skips_undefined_cases():
    rec = _record([(50, {"a": [math.nan, 0.4, 0.2], "b": [0.6, 0.2, 0.0]})])
    assert run_curve(rec)["f1"] == pytest.approx([0.6])  # threshold 0.1: only b defines it


def test_loss_curve_mean_and_band_over_seeds():
    r1 = _record([(100, {"a": [0.1, 0.2, 0.0]}), (200, {"a": [0.5, 0.6, 0.1]})])
    r2 = _record([(100, {"a": [0.4, 0.0, 0.0]}), (200, {"a": [0.9, 0.0, 0.3]})])
    c = loss_curve([r1, r2])
    assert c["mean"] == pytest.approx([0.3, 0.75])
    assert c["low"] == pytest.approx([0.2, 0.6])
    assert c["high"] == pytest.approx([0.4, 0.9])
    assert c["mean_at_half"] == pytest.approx([0.1, 0.3])
    with pytest.raises(ValueError, match="different iterations"):
        loss_curve([r1, _record([(100, {"a": [0, 0, 0]}), (300, {"a": [0, 0, 0]})])])
    with pytest.raises(ValueError, match="at least one run"):
        loss_curve([])


def test_plateau_measures_the_last_quarter():
    its = [100, 200, 300, 400, 500, 600, 700, 800]
    rising = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    p = plateau(its, rising)
    assert p["from_iteration"] == 600 and p["gain"] == pytest.approx(0.2) and not p["plateaued"]
    flat = [0.1, 0.5, 0.7, 0.8, 0.85, 0.86, 0.865, 0.869]
    p = plateau(its, flat)
    assert p["gain"] == pytest.approx(0.009) and p["plateaued"]
    assert not plateau(its, flat, tolerance=0.005)["plateaued"]
    assert plateau(its, [0.9] * 7 + [0.8])["plateaued"]  # a fall is no gain
    # the line through the last stretch's five points, not its two ends: 0.85 -> 0.86 gains 0.01 end to end, but the
    # least-squares slope is 2 / 100000 per iteration over 400 iterations
    its16 = list(range(100, 1700, 100))
    noisy = [0.5] * 11 + [0.85, 0.80, 0.90, 0.80, 0.86]
    p = plateau(its16, noisy)
    assert p["from_iteration"] == 1200 and p["gain"] == pytest.approx(0.008) and p["plateaued"]
    assert plateau([100, 200], [0.5, 0.52])["gain"] == pytest.approx(0.02)  # two points: their difference
    with pytest.raises(ValueError):
        plateau([1], [0.5])
    with pytest.raises(ValueError):
        plateau(its, rising, fraction=1.0)


def test_budget_check_reads_the_baseline_and_the_two_best():
    its = [100, 200, 300, 400]

    def c(vals):
        return {"iterations": its, "mean": vals}

    curves = {"dice": c([0.2, 0.5, 0.6, 0.605]), "a": c([0.3, 0.6, 0.7, 0.9]), "b": c([0.1, 0.5, 0.8, 0.8]),
              "worst": c([0.0, 0.0, 0.1, 0.4])}
    out = budget_check(curves, "dice")
    assert out["checked"] == ["dice", "a", "b"]
    assert not out["satisfied"]  # a gains 0.2 over the last quarter
    assert not out["per_loss"]["worst"]["plateaued"]  # reported, not checked
    curves["a"] = c([0.3, 0.6, 0.9, 0.9])
    assert budget_check(curves, "dice")["satisfied"]


def test_learning_rate_choice_by_final_validation_f1():
    def rec(v):
        return _record([(100, {"a": [0.0, 0.0, 0.0]}), (200, {"a": [v, 0.0, 0.0], "b": [v, 0.0, 0.0]})])

    assert final_f1(rec(0.7)) == pytest.approx(0.7)
    grid = (1e-3, 3e-3, 1e-2)
    assert choose_learning_rate({1e-3: rec(0.5), 3e-3: rec(0.6), 1e-2: rec(0.8)}, grid) == 1e-2
    # ties: the rate nearest the grid's middle (3e-3), then the smaller one
    assert choose_learning_rate({1e-3: rec(0.8), 3e-3: rec(0.8), 1e-2: rec(0.8)}, grid) == 3e-3
    assert choose_learning_rate({1e-3: rec(0.8), 1e-2: rec(0.8)}, grid) == 1e-3


def test_published_rank_agreement():
    from monai_segloss.app.published import ANCHORS, comparison_rows, rank_agreement

    # identical order: +1; reversed: -1; a tie shares its rank
    assert rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 0.9, "b": 0.5, "c": 0.1})["spearman"] == pytest.approx(1.0)
    assert rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 0.1, "b": 0.5, "c": 0.9})["spearman"] == pytest.approx(-1.0)
    r = rank_agreement({"a": 3, "b": 3, "c": 1, "d": 0}, {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1})
    assert r["common"] == ["a", "b", "c", "d"] and r["spearman"] == pytest.approx(0.9486832980505138)
    assert math.isnan(rank_agreement({"a": 1, "b": 2}, {"a": 1, "b": 2})["spearman"])  # two losses: undefined
    rows = comparison_rows({"dice": 0.6, "dice_ce": 0.65, "dice_topk": 0.7, "focal": 0.1}, "test Dice")
    assert len(rows) == len(ANCHORS)
    ma = rows[0]
    assert ma["their_order"] == ["dice", "dice_topk", "dice_ce", "focal"]
    assert ma["our_order"] == ["dice_topk", "dice_ce", "dice", "focal"]


def test_published_claims_place_their_best_loss_in_our_order():
    from monai_segloss.app.published import claim_rows
    from monai_segloss.app.report import _published_section

    (yeung,) = claim_rows({"dice": 0.61, "unified_focal": 0.58, "tversky": 0.55, "focal": float("nan")})
    assert (yeung["best"], yeung["rank"], yeung["of"], yeung["our_best"]) == ("unified_focal", 2, 3, "dice")
    assert claim_rows({"dice": 0.6})[0]["rank"] is None
    table = {"dice": 0.61, "unified_focal": 0.58, "tversky": 0.55}
    analysis = {"table": {k: {"tuned": {"dice": {"estimate": v}}} for k, v in table.items()}, "degenerate": {}}
    text = "\n".join(_published_section(analysis))
    assert "Yeung et al. 2022" in text and "ours ranks `unified_focal` 2 of 3 by test voxel Dice (0.580; best `dice`)" \
        in text


def test_learning_rate_section_names_choices_at_the_grid_edge():
    from monai_segloss.app.report import _lr_section

    lrs = {"dice": {"chosen": 3e-3, "fixed": False, "validation_f1": {"0.001": 0.94, "0.003": 0.95, "0.01": 0.82}},
           "dice_ce": {"chosen": 1e-2, "fixed": False, "validation_f1": {"0.001": 0.86, "0.003": 0.77, "0.01": 0.93}},
           "focal": {"chosen": 1e-3, "fixed": True, "validation_f1": {}}}
    text = "\n".join(_lr_section({"learning_rates": lrs}))
    assert "| `dice` | 0.940 | 0.950 | 0.820 | 0.003 |" in text
    assert "| `focal` | – | – | – | 0.001 (fixed) |" in text
    assert "`dice_ce` chose the largest rate it tried: a larger one was not tried." in text
    assert "`dice` chose" not in text and "`focal` chose" not in text  # inside the grid; fixed beforehand
    # rates each loss tried (a grid extended beyond its edge differs by loss): the edges are each loss's own, not
    # those of the table's columns
    own = {"blob": {"chosen": 1e-2, "fixed": False, "validation_f1": {"0.003": 0.8, "0.01": 0.9, "0.03": 0.7}},
           "tversky": {"chosen": 3e-4, "fixed": False, "validation_f1": {"0.0003": 0.9, "0.001": 0.8, "0.003": 0.7}},
           "dice": {"chosen": 1e-2, "fixed": False, "validation_f1": {"0.001": 0.7, "0.003": 0.8, "0.01": 0.9}}}
    lines = _lr_section({"learning_rates": own})
    assert lines[2] == "| loss | lr 0.0003 | lr 0.001 | lr 0.003 | lr 0.01 | lr 0.03 | chosen |"
    assert lines[4] == "| `blob` | – | – | 0.800 | 0.900 | 0.700 | 0.01 |"
    assert lines[-2:] == ["- `tversky` chose the smallest rate it tried: a smaller one was not tried.",
                          "- `dice` chose the largest rate it tried: a larger one was not tried."]


def test_learning_rate_section_with_every_rate_fixed():
    from monai_segloss.app.report import _lr_section

    lrs = {"dice": {"chosen": 3e-3, "fixed": True, "validation_f1": {}},
           "dice_ce": {"chosen": 1e-2, "fixed": True, "validation_f1": {}}}
    assert _lr_section({"learning_rates": lrs}) == [
        "Learning rates fixed beforehand (no grid in this setting): `dice` 0.003, `dice_ce` 0.01."]
