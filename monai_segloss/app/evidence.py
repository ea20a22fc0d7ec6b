"""The study's evidence, as the rest of the package cites it.

``monai-segloss study --setting full`` writes ``metrics.json`` (every figure and the per-case values behind it).
:func:`evidence_summary` condenses it to what a recommendation needs: per loss, the test lesion F1 at the
validation-tuned operating point and at 0.5 with their 95 % bootstrap intervals, the paired difference to the
baseline with its interval, Wilcoxon p-value and simultaneous interval among every loss's comparison with the
baseline (the multiple-comparison correction: a difference is stated only when both intervals exclude 0), and the
validation winner with its operating point.
``monai_segloss/app/study_evidence.json`` is that summary for the study behind the bundles' defaults (its full report
is ``docs/study/full/``); :func:`study_evidence` reads it and ``monai-segloss profile`` cites it.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

from ..evaluation.statistics import interval_excludes, significant, simultaneous_interval

__all__ = ["EVIDENCE_FILE", "evidence_summary", "study_evidence", "format_interval", "loss_sentence"]

EVIDENCE_FILE = "study_evidence.json"


def _interval(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(d[k]) for k in ("estimate", "low", "high")}


def evidence_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of a study's ``metrics.json`` (see the module docstring)."""
    baseline = metrics["baseline"]
    validation = metrics["validation"]
    losses: dict[str, Any] = {}
    for loss, table in metrics["table"].items():
        entry: dict[str, Any] = {
            "test_lesion_f1_tuned": _interval(table["tuned"]["lesion_f1"]),
            "test_lesion_f1_fixed": _interval(table["fixed"]["lesion_f1"]),
            "validation_lesion_f1_tuned": _interval(validation["losses"][loss]["validation_f1"]),
            "threshold": float(validation["losses"][loss]["threshold"]),
            "min_size_mm3": float(validation["losses"][loss]["min_size_mm3"]),
        }
        if "learning_rates" in metrics:  # the converged protocol: the rate each loss chose, degenerate points
            entry["learning_rate"] = float(metrics["learning_rates"][loss]["chosen"])
            entry["degenerate_tuned"] = bool(metrics["degenerate"][loss]["tuned"]["degenerate"])
        if loss != baseline:
            paired = metrics["paired"][loss]["tuned"]["lesion_f1"]
            sim = simultaneous_interval(paired)
            entry["vs_baseline_lesion_f1_tuned"] = {
                **_interval(paired["difference"]), "p_value": float(paired["p_value"]),
                **({"simultaneous": {"low": float(sim["low"]), "high": float(sim["high"]),
                                     "family": int(sim["family"])}} if sim is not None else {})}
        losses[loss] = entry
    values = metrics["setting_values"]
    shipped = metrics.get("shipped") or {}
    if "shipped" in metrics["table"].get(shipped.get("loss"), {}):  # the bundle's shipped configuration, test cases
        shipped = {**shipped, "test_lesion_f1": _interval(metrics["table"][shipped["loss"]]["shipped"]["lesion_f1"])}
    return {"setting": values["name"], "seeds": len(values["seeds"]), "test_units": int(metrics["n_units"]),
            "baseline": baseline, "validation_best": validation["best"], "losses": losses,
            "report": f"docs/study/{values['name']}/report.md",
            "command": f"monai-segloss study --setting {values['name']}",
            **({"shipped": shipped} if shipped else {})}


def study_evidence() -> dict[str, Any]:
    """The summary shipped with the package (``monai_segloss/app/study_evidence.json``)."""
    return json.loads(resources.files(__package__).joinpath(EVIDENCE_FILE).read_text())


def format_interval(d: dict[str, float], signed: bool = False) -> str:
    """``0.512 [0.401, 0.603]`` (``+0.012 [...]`` with ``signed``)."""
    if any(math.isnan(d[k]) for k in ("estimate", "low", "high")):
        return "n/a"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(d['estimate'])} [{f.format(d['low'])}, {f.format(d['high'])}]"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def loss_sentence(evidence: dict[str, Any], loss: str) -> str:
    """One sentence on ``loss`` in the study: its test lesion F1 and its difference to the baseline, stated as a
    difference only when it is :func:`~monai_segloss.evaluation.statistics.significant`."""
    e = evidence["losses"].get(loss)
    where = (f"study '{evidence['setting']}' ({evidence['seeds']} seeds, {evidence['test_units']} test case-seed "
             f"units; {evidence['report']})")
    if e is None:
        return f"{loss} was not in the {where}"
    text = f"{where}: {loss} test lesion F1 {format_interval(e['test_lesion_f1_tuned'])} at the validation-tuned " \
           f"operating point"
    d = e.get("vs_baseline_lesion_f1_tuned")
    if d is not None:
        base = evidence["baseline"]
        sim = simultaneous_interval(d)
        among = (f", simultaneous [{sim['low']:+.3f}, {sim['high']:+.3f}] over {sim['family']} comparisons"
                 if sim is not None and interval_excludes(d) else "")  # as the report: only when it decides
        if significant(d):
            word = "higher" if d["low"] > 0 else "lower"
            text += f", {word} than {base} by {format_interval(d, signed=True)}{among} (Wilcoxon {_p(d['p_value'])})"
        else:
            text += f", no significant difference from {base} ({format_interval(d, signed=True)}{among}, Wilcoxon " \
                    f"{_p(d['p_value'])})"
    return text
