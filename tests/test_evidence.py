"""The study's evidence as the package cites it: the shipped summary is the full setting's committed metrics, and
a sentence states a difference only when its interval excludes zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monai_segloss.app.evidence import evidence_summary, format_interval, loss_sentence, study_evidence

FULL = Path(__file__).resolve().parents[1] / "docs" / "study" / "full"


def test_shipped_summary_is_the_committed_full_study():
    metrics = json.loads((FULL / "metrics.json").read_text())
    shipped = study_evidence()
    assert shipped == json.loads(json.dumps(evidence_summary(metrics)))
    assert shipped["setting"] == "full" and shipped["seeds"] >= 5
    assert (FULL / "report.md").is_file() and shipped["report"] == "docs/study/full/report.md"
    # the validation winner is the loss with the best pooled validation lesion F1
    val = {k: v["validation_lesion_f1_tuned"]["estimate"] for k, v in shipped["losses"].items()}
    assert val[shipped["validation_best"]] == max(val.values())


def _evidence(low: float, high: float) -> dict:
    iv = {"estimate": (low + high) / 2, "low": low, "high": high}
    return {"setting": "full", "seeds": 5, "test_units": 60, "baseline": "dice", "report": "r.md",
            "losses": {"dice": {"test_lesion_f1_tuned": {"estimate": 0.5, "low": 0.4, "high": 0.6}},
                       "tversky": {"test_lesion_f1_tuned": {"estimate": 0.55, "low": 0.45, "high": 0.65},
                                   "vs_baseline_lesion_f1_tuned": {**iv, "p_value": 0.01}}}}


def test_sentence_states_a_difference_only_when_the_interval_excludes_zero():
    assert "higher than dice by +0.100 [+0.050, +0.150] (Wilcoxon p = 0.010)" in loss_sentence(_evidence(0.05, 0.15),
                                                                                             "tversky")
    assert "lower than dice by -0.100 [-0.150, -0.050]" in loss_sentence(_evidence(-0.15, -0.05), "tversky")
    text = loss_sentence(_evidence(-0.05, 0.15), "tversky")
    assert "no significant difference from dice (+0.050 [-0.050, +0.150]" in text and "higher" not in text
    assert loss_sentence(_evidence(0.0, 0.1), "dice").endswith("0.500 [0.400, 0.600] at the validation-tuned "
                                                                "operating point")
    assert "was not in the study" in loss_sentence(_evidence(0.0, 0.1), "blob")
    assert format_interval({"estimate": float("nan"), "low": 0.0, "high": 1.0}) == "n/a"


def test_lesion_bundle_defaults_follow_the_evidence():
    """The lesion bundle ships the validation winner of the full study: its loss (the winner's override file) and
    its operating point (threshold, minimum lesion size) in training-time validation, evaluation and inference."""
    evidence = study_evidence()
    best = evidence["validation_best"]
    configs = Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky" / "configs"
    train = json.loads((configs / "train.json").read_text())
    inference = json.loads((configs / "inference.json").read_text())
    assert train["loss"] == json.loads((configs / f"{best}.json").read_text())["loss"]
    op = evidence["losses"][best]
    for config in (train, inference):
        assert (config["lesion_threshold"], config["min_lesion_mm3"]) == (op["threshold"], op["min_size_mm3"])


def _tool(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, FULL.parents[2] / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_defaults_tool_is_current_and_rewrites_only_what_it_derives():
    """tools/sync_study.py: the committed configs and evidence are what it derives from the committed
    metrics; for another winner it swaps the loss block and the operating point and leaves every other line."""
    import copy

    tool = _tool("sync_study")
    assert tool.main(["--check"]) == 0
    metrics = copy.deepcopy(json.loads((FULL / "metrics.json").read_text()))
    winner = "dice" if metrics["validation"]["best"] != "dice" else "tversky"
    vs = metrics["validation"]["best_vs"]
    vs[metrics["validation"]["best"]] = vs.pop(winner)  # the old winner now trails the new one
    metrics["validation"]["best"] = winner
    metrics["validation"]["losses"][winner].update(threshold=0.35, min_size_mm3=20.0)
    files = tool.derive(metrics)
    configs = FULL.parents[2] / "bundles" / "lesion_focal_tversky" / "configs"
    train, old = json.loads(files[configs / "train.json"]), json.loads((configs / "train.json").read_text())
    assert train["loss"] == json.loads((configs / f"{winner}.json").read_text())["loss"]
    assert (train["lesion_threshold"], train["min_lesion_mm3"]) == (0.35, 20.0)
    assert {k: v for k, v in train.items() if k not in ("loss", "lesion_threshold", "min_lesion_mm3")} == \
        {k: v for k, v in old.items() if k not in ("loss", "lesion_threshold", "min_lesion_mm3")}
    inference = json.loads(files[configs / "inference.json"])
    assert (inference["lesion_threshold"], inference["min_lesion_mm3"]) == (0.35, 20.0)
    before = (configs / "inference.json").read_text().splitlines()
    after = files[configs / "inference.json"].splitlines()
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 2  # layout kept: two lines differ
    assert json.loads(files[tool.EVIDENCE])["validation_best"] == winner


def test_the_pages_that_cite_the_study_hold_its_tables():
    """tools/sync_study.py: docs/which_loss.md and the bundle's README show the tables rendered from the
    committed metrics.json; every row's numbers are the metrics' own and a difference is stated only when its
    interval excludes zero."""
    from monai_segloss.app.report import summary_tables
    from monai_segloss.evaluation.statistics import significant

    tool = _tool("sync_study")
    assert tool.main(["--check"]) == 0
    assert all("<!-- study-table: test -->" in page.read_text() for page in tool.PAGES)
    metrics = json.loads((FULL / "metrics.json").read_text())
    tables = summary_tables(metrics)
    rows = {r.split(" | ")[0].strip("| `").split("`")[0]: r.split(" | ") for r in tables["test"].splitlines()[2:]}
    assert list(rows)[0] == metrics["baseline"] and set(rows) == set(metrics["table"])
    for loss, cells in rows.items():
        f1 = metrics["table"][loss]["tuned"]["lesion_f1"]
        assert cells[2].startswith(f"{f1['estimate']:.3f} [{f1['low']:.3f}, {f1['high']:.3f}]")
        if loss != metrics["baseline"]:
            cmp = metrics["paired"][loss]["tuned"]["lesion_f1"]
            assert ("no significant difference" in cells[-1]) != significant(cmp), (loss, cells[-1])
    validation = tables["validation"].splitlines()
    assert validation[2].startswith(f"| `{metrics['validation']['best']}`")
    with pytest.raises(ValueError, match="unknown study table 'nope'"):
        tool.render("<!-- study-table: nope -->\nold\n<!-- /study-table -->", tables)
    page = "intro\n<!-- study-table: validation -->\nold\n<!-- /study-table -->\nafter"
    assert tool.render(page, tables) == f"intro\n<!-- study-table: validation -->\n{tables['validation']}\n" \
                                       f"<!-- /study-table -->\nafter"


def test_a_difference_lost_among_the_family_is_stated_as_none():
    """The summary table and profile's sentence call a lesion F1 difference one only when its simultaneous interval
    over every loss's comparison with the baseline excludes zero too, and show that interval."""
    import copy

    from monai_segloss.app.evidence import loss_sentence
    from monai_segloss.app.report import summary_tables

    metrics = copy.deepcopy(json.loads((FULL / "metrics.json").read_text()))
    base = metrics["baseline"]
    lost, held = [k for k in metrics["table"] if k != base][:2]
    for loss, high in ((lost, 0.004), (held, -0.002)):
        cmp = metrics["paired"][loss]["tuned"]["lesion_f1"]
        cmp["difference"].update(estimate=-0.05, low=-0.08, high=-0.02)
        cmp["simultaneous"] = {"low": -0.1, "high": high, "level": 0.994, "family": 9}
    rows = {r.split(" | ")[0].strip("| `").split("`")[0]: r for r in summary_tables(metrics)["test"].splitlines()[2:]}
    assert rows[lost].endswith("−0.050 [−0.080, −0.020]: no significant difference (simultaneous [−0.100, +0.004] "
                               "over 9 comparisons) |")
    assert rows[held].endswith("−0.050 [−0.080, −0.020]: lower (simultaneous [−0.100, −0.002] over 9 comparisons) |")
    evidence = evidence_summary(metrics)
    assert evidence["losses"][lost]["vs_baseline_lesion_f1_tuned"]["simultaneous"] == {
        "low": -0.1, "high": 0.004, "family": 9}
    assert f"no significant difference from {base} (-0.050 [-0.080, -0.020], simultaneous [-0.100, +0.004] over 9 " \
        "comparisons" in loss_sentence(evidence, lost)
    assert f"lower than {base} by -0.050 [-0.080, -0.020], simultaneous [-0.100, -0.002] over 9 comparisons" in \
        loss_sentence(evidence, held)


def test_the_bundle_metadata_names_its_default_loss_and_operating_point():
    """The lesion bundle's metadata (what MONAI's bundle tools show) names the loss ``train.json`` trains with, and
    its current version's changelog entry the shipped threshold: re-choosing the default (tools/sync_study.py)
    means a new bundle version that says so."""
    configs = FULL.parents[2] / "bundles" / "lesion_focal_tversky" / "configs"
    train = json.loads((configs / "train.json").read_text())
    meta = json.loads((configs / "metadata.json").read_text())
    loss_class = train["loss"]["_target_"].rsplit(".", 1)[-1]
    assert loss_class in meta["description"]
    assert f"{train['lesion_threshold']:.3f}" in meta["changelog"][meta["version"]]
