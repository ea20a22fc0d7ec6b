"""The doubled-budget check (monai_segloss.app.budget): hand-made metrics, then end to end on a tiny study."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from monai_segloss.app.budget import DOUBLING_METRICS, compare_budgets


def _metrics(epochs: int, units: list[tuple[int, str]], per_loss: dict[str, list[float]]) -> dict:
    return {"setting_values": {"epochs": epochs}, "units": [{"seed": s, "case": c} for s, c in units],
            "per_unit": {loss: {"tuned": {m: list(v) for m in DOUBLING_METRICS}} for loss, v in per_loss.items()}}


BASE_UNITS = [(0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c")]


def test_the_longer_study_is_paired_with_its_own_units_of_the_study():
    # the study holds seeds 0 and 1; the longer one seed 1 only, its units in another order: seed 1's base values
    # (0.5, 0.7, 0.9) must be the ones subtracted, not seed 0's (0.1, 0.2, 0.3)
    base = _metrics(800, BASE_UNITS, {"dice": [0.1, 0.2, 0.3, 0.5, 0.7, 0.9], "other": [0.0] * 6})
    longer = _metrics(1600, [(1, "c"), (1, "a"), (1, "b")], {"dice": [0.9, 0.6, 0.7]})
    out = compare_budgets(base, longer, n_boot=300)
    d = out["per_loss"]["dice"]["lesion_f1"]
    assert d["base"]["estimate"] == pytest.approx(0.7) and d["longer"]["estimate"] == pytest.approx(2.2 / 3)
    assert d["difference"]["difference"]["estimate"] == pytest.approx((0.0 + 0.1 + 0.0) / 3)
    assert (d["difference"]["wins"], d["difference"]["losses"], d["difference"]["ties"]) == (1, 0, 2)
    assert out["seeds"] == [1] and out["n_units"] == 3 and list(out["per_loss"]) == ["dice"]
    assert not out["per_loss"]["dice"]["enough"] and not out["satisfied"]  # a gain of 0.033 >= 0.01


def test_a_small_or_insignificant_gain_is_enough_and_a_clear_one_is_not():
    rng = np.random.default_rng(3)
    units = [(s, f"c{i}") for s in (0, 1) for i in range(40)]
    b = rng.uniform(0.4, 0.9, len(units))
    base = _metrics(800, units, {"dice": b, "tversky": b, "focal": b})
    noise = rng.normal(0.0, 0.05, len(units))
    longer = _metrics(1600, units, {"dice": b + noise - noise.mean() + 0.004,  # +0.004, interval around it
                                    "tversky": b + 0.03,  # every unit gains 0.03
                                    "focal": b - 0.02})  # a fall is no gain
    out = compare_budgets(base, longer, n_boot=500)
    dice = out["per_loss"]["dice"]["lesion_f1"]["difference"]["difference"]
    assert dice["estimate"] == pytest.approx(0.004) and dice["low"] < 0 < dice["high"]
    assert out["per_loss"]["dice"]["enough"] and out["per_loss"]["focal"]["enough"]
    tv = out["per_loss"]["tversky"]["lesion_f1"]["difference"]["difference"]
    assert tv["low"] == pytest.approx(0.03) and not out["per_loss"]["tversky"]["enough"]
    assert not out["satisfied"]
    assert compare_budgets(base, longer, n_boot=500, tolerance=0.05)["per_loss"]["tversky"]["enough"] is False  # CI>0
    assert out["epochs"] == {"base": 800, "longer": 1600}


def test_a_longer_study_that_does_not_fit_is_refused():
    base = _metrics(800, BASE_UNITS, {"dice": [0.5] * 6})
    with pytest.raises(ValueError, match="train longer"):
        compare_budgets(base, _metrics(800, BASE_UNITS, {"dice": [0.5] * 6}))
    with pytest.raises(ValueError, match="not units of the study"):
        compare_budgets(base, _metrics(1600, [(2, "a")], {"dice": [0.5]}))
    with pytest.raises(ValueError, match="not in the study"):
        compare_budgets(base, _metrics(1600, [(0, "a")], {"tversky": [0.5]}))


def test_budget_check_end_to_end(tmp_path):
    """A tiny study, its doubled-budget check on seed 0, then the study's report compares the two."""
    pytest.importorskip("nilearn")
    from monai_segloss.app.study import report_study, run_budget_check, run_study
    from tests.test_study import TINY

    tiny = dataclasses.replace(TINY, lr_grid=(1e-2,))
    out, cache = tmp_path / "study", tmp_path / "cache"
    with pytest.raises(ValueError, match="holds no study.json"):
        run_budget_check(out)
    run_study(tiny, out_dir=out, cache_dir=cache, workers=1, echo=lambda s: None, runs_dir=out / "runs")
    with pytest.raises(ValueError, match="factor must be an integer >= 2"):
        run_budget_check(out, factor=1)
    with pytest.raises(ValueError, match="seeds must be seeds of the study"):
        run_budget_check(out, seeds=[7])
    lines: list[str] = []
    run_budget_check(out, seeds=[0], workers=1, echo=lines.append)
    assert lines[0] == "budget check: dice, focal_tversky on seed(s) 0 at 4 epochs (2x the study's 2)"
    longer = json.loads((out / "budget_x2" / "metrics.json").read_text())
    assert longer["setting_values"]["epochs"] == 4 and longer["n_units"] == 3
    assert {r["learning_rate"] for r in longer["runs"].values()} == {1e-2}
    assert len(list((out / "budget_x2" / "runs").glob("*/model.pt"))) == 2

    paths = report_study(out, echo=lambda s: None)
    metrics = json.loads(paths["metrics"].read_text())
    (check,) = metrics["longer_budgets"]
    assert check["folder"] == "budget_x2" and check["seeds"] == [0]
    assert check["iterations"]["longer"] == 2 * check["iterations"]["base"]
    seed0 = [i for i, u in enumerate(metrics["units"]) if u["seed"] == 0]
    for loss in ("dice", "focal_tversky"):
        mine = [v for v in longer["per_unit"][loss]["tuned"]["lesion_f1"]]
        theirs = [metrics["per_unit"][loss]["tuned"]["lesion_f1"][i] for i in seed0]
        expected = np.nanmean(np.array(mine, dtype=float) - np.array(theirs, dtype=float))
        got = check["per_loss"][loss]["lesion_f1"]["difference"]["difference"]["estimate"]
        assert got == pytest.approx(expected, nan_ok=True)
        assert check["curves"][loss]["iterations"][-1] == check["iterations"]["longer"]
    text = paths["report"].read_text()
    assert "Doubled-budget check (`budget_x2`)" in text and "| `focal_tversky` |" in text

    # the longer study's own report, paired with the study it doubles (listed in its shorter_budgets.json): the
    # same pairs, so the same gains as the check above
    (out / "budget_x2" / "shorter_budgets.json").write_text(json.dumps({"folders": ["..", "../absent"]}))
    again = report_study(out / "budget_x2", echo=lambda s: None)
    paired, absent = json.loads(again["metrics"].read_text())["shorter_budgets"]
    assert paired["folder"] == ".." and paired["iterations"] == check["iterations"]
    for loss in ("dice", "focal_tversky"):
        assert paired["per_loss"][loss]["lesion_f1"] == check["per_loss"][loss]["lesion_f1"]
    assert absent["folder"] == "../absent" and "does not exist" in absent["error"]
    text = again["report"].read_text()
    assert "## What changes with budget" in text and "The same study trained for " in text
    assert "The shorter-budget study in `../absent` does not fit this one" in text
    # its rates were fixed from the study's grid: the learning-rate section shows that grid
    its = check["iterations"]["base"]
    assert (f"Learning rates fixed beforehand (`dice` 0.01, `focal_tversky` 0.01): each loss's choice in the same "
            f"study at {its:,} iterations (`..`), from its grid.") in text
    assert "| loss | lr 0.01 | chosen |" in text


def test_fixed_rates_show_the_shorter_studys_grid_only_when_they_are_its_choices():
    from monai_segloss.app.report import _lr_section

    grid = {"dice": {"chosen": 3e-3, "fixed": False, "validation_f1": {"0.001": 0.9, "0.003": 0.95, "0.01": 0.8}},
            "focal": {"chosen": 1e-2, "fixed": False, "validation_f1": {"0.001": 0.5, "0.003": 0.6, "0.01": 0.7}}}
    fixed = {k: {"chosen": d["chosen"], "fixed": True, "validation_f1": {}} for k, d in grid.items()}
    check = {"folder": "../short", "iterations": {"base": 12000, "longer": 24000}, "learning_rates": grid}
    lines = _lr_section({"learning_rates": fixed, "shorter_budgets": [check]})
    assert lines[0].startswith("Learning rates fixed beforehand (`dice` 0.003, `focal` 0.01): each loss's choice in "
                               "the same study at 12,000 iterations (`../short`)")
    assert lines[2:5] == ["| loss | lr 0.001 | lr 0.003 | lr 0.01 | chosen |", "|---|---:|---:|---:|---|",
                          "| `dice` | 0.900 | 0.950 | 0.800 | 0.003 |"]
    assert lines[-1] == "- `focal` chose the largest rate it tried: a larger one was not tried."
    other = {**fixed, "focal": {"chosen": 3e-3, "fixed": True, "validation_f1": {}}}  # not the shorter study's choice
    assert _lr_section({"learning_rates": other, "shorter_budgets": [check]}) == [
        "Learning rates fixed beforehand (no grid in this setting): `dice` 0.003, `focal` 0.003."]


def test_what_changes_with_budget_places_both_orders_side_by_side():
    from monai_segloss.app.report import _budget_change_section

    def table(f1: dict[str, float]) -> dict:
        return {k: {"tuned": {"lesion_f1": {"estimate": v, "low": v - 0.1, "high": v + 0.1},
                              "dice": {"estimate": v / 2}}} for k, v in f1.items()}

    earlier = {"what": "50 epochs", "setting_values": {"epochs": 50},
               "table": table({"dice": 0.35, "dice_ce": 0.05, "tversky": 0.30, "blob": 0.2})}
    analysis = {"_earlier": earlier, "table": table({"dice": 0.80, "dice_ce": 0.90, "tversky": 0.85, "focal": 0.7,
                                                     "blob": 0.95}),
                "runs": {"dice/seed0": {"iterations": 12000}},
                "degenerate": {"blob": {"tuned": {"degenerate": True}}}}
    lines = _budget_change_section(analysis)
    # earlier order: dice, tversky, blob, dice_ce; now (blob degenerate, focal not in the earlier study):
    # dice_ce, tversky, dice -> ranks (1, 2, 3) against (3, 2, 1) on the three ranked in both: rho = -1
    assert "Spearman's correlation of the two orders by test lesion F1 (tuned operating point): -1.00" in lines[0]
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in lines[2:] if r.startswith("| `")}
    assert set(rows) == {"`dice`", "`dice_ce`", "`tversky`", "`blob`"}
    assert rows["`dice`"][:4] == ["0.350 [0.250, 0.450]", "1", "0.800 [0.700, 0.900]", "3"]
    assert rows["`dice_ce`"][1] == "4" and rows["`dice_ce`"][3] == "1" and rows["`blob`"][3] == "degenerate"
    assert rows["`tversky`"][4:] == ["0.150", "0.425"]
    assert "lesion F1, 12,000 iterations" in lines[2]


def test_the_shorter_budget_section_ranks_both_budgets_and_names_the_losses_that_gained():
    from monai_segloss.app.report import _shorter_budget_lines

    def entry(base: float, longer: float, low: float, enough: bool) -> dict:
        diff = {"difference": {"estimate": longer - base, "low": low, "high": longer - base + 0.05, "n": 40},
                "p_value": 0.01}
        ci = {k: {"estimate": v, "low": v - 0.05, "high": v + 0.05} for k, v in (("base", base), ("longer", longer))}
        return {**{m: {**ci, "difference": diff} for m in ("lesion_f1", "dice", "small_lesion_recall")},
                "enough": enough}

    check = {"folder": "../full_800", "iterations": {"base": 12000, "longer": 24000}, "n_units": 200,
             "seeds": [0, 1, 2, 3, 4],
             "per_loss": {"dice": entry(0.87, 0.93, 0.03, False), "dice_ce": entry(0.83, 0.84, -0.02, True),
                          "focal": entry(0.84, 0.95, 0.05, False), "blob": entry(0.80, 0.78, -0.05, True)}}
    analysis = {"degenerate": {"focal": {"tuned": {"degenerate": True}}}}
    lines = _shorter_budget_lines(analysis, check)
    assert lines[0].startswith("The same study trained for 12,000 iterations instead of 24,000 (`../full_800`")
    assert "not enough for `dice`, `focal` by the rule" in lines[0] and "all 200 test units" in lines[0]
    # before: focal 0.84 > dice_ce 0.83 ... -> dice 1, focal 2, dice_ce 3, blob 4; now (focal degenerate):
    # dice 0.93, dice_ce 0.84, blob 0.78 -> 1, 2, 3; on the three ranked in both: (1, 3, 4) against (1, 2, 3), rho 1
    assert "(tuned operating point): +1.00." in lines[0]
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in lines[2:] if r.startswith("| `")}
    assert rows["`dice`"][:4] == ["0.870 [0.820, 0.920]", "1", "0.930 [0.880, 0.980]", "1"]
    assert rows["`focal`"][1] == "2" and rows["`focal`"][3] == "degenerate" and rows["`dice_ce`"][1:4:2] == ["3", "2"]
    assert rows["`dice`"][-1] == "no" and rows["`blob`"][-1] == "yes"
    assert lines[2].startswith("| loss | lesion F1, 12,000 it | rank | 24,000 it | rank | gain")
