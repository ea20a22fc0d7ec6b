"""The study's report: ``report.md`` (tables with intervals, sentences read off the intervals), ``metrics.json``
(every number, with the per-case values the intervals came from) and PNG figures (FROC curves, a forest plot of the
paired differences against the baseline, recall by lesion size, example slices, training curves).

Plain data in (the dictionary of :func:`monai_segloss.app.analysis.analyse`), files out. A sentence states a
difference only when its 95 % interval excludes zero; otherwise it says "no significant difference", with the
numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.statistics import interval_excludes, significant, simultaneous_interval
from .analysis import METRICS
from .budget import DOUBLING_TOLERANCE

__all__ = ["write_report", "format_table", "finding", "summary_tables", "METRIC_NAMES", "FIGURES"]

METRIC_NAMES = {
    "dice": "Dice",
    "lesion_f1": "lesion F1",
    "lesion_sensitivity": "lesion sensitivity",
    "lesion_precision": "lesion precision",
    "small_lesion_recall": "small-lesion recall",
    "hd95_mm": "HD95 (mm)",
}
OP_NAMES = {"tuned": "operating point tuned on validation", "fixed": "fixed threshold 0.5",
            "shipped": "bundle's shipped operating point"}
MATCHING_TEXT = {
    "one_to_one": "one to one, greedily by voxel overlap (a component credited for at most one lesion; the "
                  "any-overlap F1 of ISLES 2022 is in metrics.json under per_unit_other_matching)",
    "any_overlap": "by any overlap (ISLES 2022; the greedy one-to-one F1 is in metrics.json under "
                   "per_unit_other_matching)",
}
BOOTSTRAP_TEXT = ("crossed bootstrap: the seeds and the test cases resampled independently, since every seed is "
                  "tested on the same cases")
FIGURES = {"froc": "froc.png", "forest": "forest_vs_baseline.png", "recall": "recall_by_size.png",
           "examples": "examples.png", "curves": "training_curves.png"}


ROUND_OFF = 1e-9  # a mean difference this small is floating-point round-off of a zero difference


def _num(v: float | None, key: str = "") -> str:
    """Three decimals (HD95: one); a non-zero value that would print as zero gets two significant digits, unless it
    is round-off (under :data:`ROUND_OFF`), which prints as zero."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    v = 0.0 if abs(v) < ROUND_OFF else v
    digits = 1 if key == "hd95_mm" else 3
    if v != 0 and abs(v) < 0.5 * 10**-digits:
        return f"{v:.1e}"
    return f"{v:.{digits}f}"


def _ci(iv: dict, key: str = "") -> str:
    """``0.612 [0.550, 0.671]``."""
    if not _finite(iv.get("estimate")):
        return "–"
    return f"{_num(iv['estimate'], key)} [{_num(iv['low'], key)}, {_num(iv['high'], key)}]"


def _signed(v: float, key: str = "") -> str:
    s = _num(abs(v), key)
    return s if s == "–" else ("+" if v >= ROUND_OFF else "−" if v <= -ROUND_OFF else "±") + s


def _diff_ci(iv: dict, key: str = "") -> str:
    if not _finite(iv.get("estimate")):
        return "–"
    return f"{_signed(iv['estimate'], key)} [{_signed(iv['low'], key)}, {_signed(iv['high'], key)}]"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _p(p: float) -> str:
    if not _finite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def finding(loss: str, baseline: str, what: str, comparison: dict, key: str = "", units: str = "units",
            seeds: int = 2) -> str:
    """One sentence about ``loss`` minus ``baseline`` on ``what``: a difference only when it is :func:`significant`
    and the study holds more than one seed. With one seed (``seeds`` < 2) the interval resamples the cases only and
    leaves out how much another training run moves the result, so an interval excluding 0 is stated for this seed's
    networks, not as a difference between the losses. In a family of comparisons (``comparison["simultaneous"]``)
    an interval that excludes 0 on its own but not among the family is not called a difference either.

    Example:
        >>> iv = {"estimate": 0.061, "low": 0.010, "high": 0.111, "n": 35}
        >>> finding("dice_ce", "dice", "small-lesion recall", iv, seeds=5)
        '`dice_ce` vs `dice`, small-lesion recall: higher by 0.061 (95 % CI +0.010 to +0.111; 35 units).'
        >>> "higher by 0.061 on this seed's networks only" in finding("dice_ce", "dice", "recall", iv, seeds=1)
        True
        >>> among = {"difference": iv, "simultaneous": {"low": -0.004, "high": 0.125, "family": 9}}
        >>> finding("dice_ce", "dice", "recall", among, seeds=5)  # doctest: +NORMALIZE_WHITESPACE
        '`dice_ce` vs `dice`, recall: no significant difference after the correction for 9 comparisons (+0.061;
        95 % CI +0.010 to +0.111 on its own, simultaneous 95 % CI −0.004 to +0.125; 35 units).'
    """
    iv = comparison["difference"] if "difference" in comparison else comparison
    p = comparison.get("p_value", math.nan)
    sim = simultaneous_interval(comparison)
    tail = f"95 % CI {_signed(iv['low'], key)} to {_signed(iv['high'], key)}"
    if sim is not None and interval_excludes(iv) and seeds >= 2:  # does it hold among the family?
        among = f"simultaneous 95 % CI {_signed(sim['low'], key)} to {_signed(sim['high'], key)}"
        tail += (f", {among} over {sim['family']} comparisons" if interval_excludes(sim) else f" on its own, {among}")
    if _finite(p):
        tail += f"; Wilcoxon p {_p(p) if p < 0.001 else '= ' + _p(p)}"
    tail += f"; {iv['n']} {units}"
    if not _finite(iv.get("estimate")):
        return f"`{loss}` vs `{baseline}`, {what}: not defined on these cases."
    if interval_excludes(iv):
        direction = "higher" if iv["estimate"] > 0 else "lower"
        if seeds < 2:
            return (f"`{loss}` vs `{baseline}`, {what}: {direction} by {_num(abs(iv['estimate']), key)} on this "
                    f"seed's networks only ({tail.replace('95 % CI', '95 % CI over the cases')}); one seed cannot "
                    "tell the loss from the training run, so this is not called a difference between the losses "
                    "(the full study's seeds decide).")
        if sim is not None and not significant(comparison):
            return (f"`{loss}` vs `{baseline}`, {what}: no significant difference after the correction for "
                    f"{sim['family']} comparisons ({_signed(iv['estimate'], key)}; {tail}).")
        return f"`{loss}` vs `{baseline}`, {what}: {direction} by {_num(abs(iv['estimate']), key)} ({tail})."
    return f"`{loss}` vs `{baseline}`, {what}: no significant difference ({_signed(iv['estimate'], key)}, {tail})."


def _is_degenerate(analysis: dict, loss: str, op: str) -> bool:
    return bool(analysis.get("degenerate", {}).get(loss, {}).get(op, {}).get("degenerate", False))


def _results_table(analysis: dict, op: str, losses: list[str] | None = None) -> str:
    head = "| loss | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " | CPM (FROC) |"
    rows = [head, "|---|" + "---:|" * (len(METRICS) + 1)]
    for loss, ops in analysis["table"].items():
        if losses is not None and loss not in losses:
            continue
        cells = [_ci(ops[op][m], m) for m in METRICS] + [_ci(analysis["froc"][loss]["cpm"])]
        mark = " (degenerate)" if _is_degenerate(analysis, loss, op) else ""
        rows.append(f"| `{loss}`{mark} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def summary_tables(metrics: dict) -> dict[str, str]:
    """The study's two summary tables, for the pages that cite it (``tools/sync_study.py``), from its
    ``metrics.json``:

    - ``test``: per loss (the baseline first, then by test lesion F1 at the tuned operating point), its learning rate,
      the test lesion F1 at the tuned point and at 0.5, the small-lesion recall and voxel Dice at the tuned point, the
      CPM, and the paired lesion F1 difference to the baseline, called a difference only when it is
      :func:`significant` (its interval excludes 0, and so does its simultaneous interval over every loss's
      comparison with the baseline, shown when the first excludes 0);
    - ``validation``: per loss (the validation winner first), the pooled validation lesion F1 at the operating point
      chosen over every seed's validation cases, that point, and the paired difference to the winner (the loss minus
      the winner).
    """
    base, table = metrics["baseline"], metrics["table"]
    rates = metrics.get("learning_rates", {})
    order = [base] + sorted((k for k in table if k != base), key=lambda k: -table[k]["tuned"]["lesion_f1"]["estimate"])
    test = ["| loss | learning rate | lesion F1 (tuned) | lesion F1 (0.5) | small-lesion recall | voxel Dice | "
            f"CPM (FROC) | Δ lesion F1 vs `{base}` (tuned) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for loss in order:
        t = table[loss]["tuned"]
        rate = f"{rates[loss]['chosen']:g}" if loss in rates else "–"
        if loss == base:
            versus = "—"
        else:
            cmp = metrics["paired"][loss]["tuned"]["lesion_f1"]
            d, sim = cmp["difference"], simultaneous_interval(cmp)
            word = ("higher" if d["low"] > 0 else "lower") if significant(cmp) else "no significant difference"
            if sim is not None and interval_excludes(d):  # the interval among every loss's comparison decides
                word += (f" (simultaneous [{_signed(sim['low'])}, {_signed(sim['high'])}] over {sim['family']} "
                         "comparisons)")
            versus = f"{_diff_ci(d)}: {word}"
        mark = " (degenerate)" if _is_degenerate(metrics, loss, "tuned") else ""
        test.append(f"| `{loss}`{mark} | {rate} | {_ci(t['lesion_f1'])} | {_ci(table[loss]['fixed']['lesion_f1'])} | "
                    f"{_ci(t['small_lesion_recall'])} | {_ci(t['dice'])} | {_ci(metrics['froc'][loss]['cpm'])} | "
                    f"{versus} |")
    v = metrics["validation"]
    best, shipped = v["best"], (metrics.get("shipped") or {}).get("loss")
    validation = ["| loss | validation lesion F1 | operating point: threshold / minimum size | paired difference to "
                  "the winner [95 % CI], Wilcoxon p |", "|---|---:|---|---:|"]
    for loss in [best] + sorted((k for k in v["losses"] if k != best),
                                key=lambda k: -v["losses"][k]["validation_f1"]["estimate"]):
        d = v["losses"][loss]
        note = " — **bundle default**" if loss == shipped else ""
        versus = "—"
        if loss != best:  # best_vs holds the winner minus the loss: shown as the loss minus the winner
            w = v["best_vs"][loss]
            gap = {"estimate": -w["difference"]["estimate"], "low": -w["difference"]["high"],
                   "high": -w["difference"]["low"]}
            versus = f"{_diff_ci(gap)}, p {_p(w['p_value'])}"
        validation.append(f"| `{loss}`{note} | {_ci(d['validation_f1'])} | {d['threshold']:.3g} / "
                          f"{d['min_size_mm3']:g} mm³ | {versus} |")
    return {"test": "\n".join(test), "validation": "\n".join(validation)}


def _shipped_section(analysis: dict) -> list[str]:
    shipped = analysis.get("shipped") or {}
    loss = shipped.get("loss")
    if not isinstance(loss, str) or loss not in analysis["table"]:
        return [f"The bundle's default loss ({loss or 'none of the override files'}) is not among this study's "
                "losses: no held-out row for it."]
    if "shipped" not in analysis["table"][loss]:
        return [f"The bundle's default loss `{loss}` has not been scored at its current operating point (threshold "
                f"{shipped['threshold']:g}, minimum lesion size {shipped['min_size_mm3']:g} mm³) on every run of "
                "this study: no held-out row for it yet (`monai-segloss study` with the study's options scores "
                "it)."]
    return [f"The lesion bundle ships `{loss}` at threshold {shipped['threshold']:g} with minimum lesion size "
            f"{shipped['min_size_mm3']:g} mm³ (`train.json`: `lesion_threshold`, `min_lesion_mm3`). That exact "
            "configuration on the test cases (never used for any choice):", "",
            _results_table(analysis, "shipped", [loss])]


def _paired_table(analysis: dict, op: str) -> str:
    head = "| loss − " + f"`{analysis['baseline']}` | " + " | ".join(f"Δ {METRIC_NAMES[m]}" for m in METRICS) + \
        " | Δ CPM |"
    rows = [head, "|---|" + "---:|" * (len(METRICS) + 1)]
    def mark(cmp: dict) -> str:  # the difference holds among the family of comparisons
        return " *" if simultaneous_interval(cmp) is not None and significant(cmp) else ""

    for loss, ops in analysis["paired"].items():
        cells = [f"{_diff_ci(ops[op][m]['difference'], m)} (p {_p(ops[op][m]['p_value'])}){mark(ops[op][m])}"
                 for m in METRICS]
        cpm_cmp = analysis["froc"][loss]["cpm_vs_baseline"]
        cells.append(_diff_ci(cpm_cmp) + mark(cpm_cmp))
        rows.append(f"| `{loss}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _family_sentence(analysis: dict) -> str:
    """What the paired tables' ``*`` means (the multiple-comparison correction), for a study of several losses."""
    families = [c["simultaneous"] for per in analysis["paired"].values() for op in per.values() for c in op.values()
                if simultaneous_interval(c) is not None]
    if not families:
        return ""
    levels, k = [f["level"] for f in families], families[0]["family"]
    return (f"Each column compares {k} losses with the baseline. A cell marked * holds after the correction for "
            "these multiple comparisons: its simultaneous 95 % interval excludes 0 too (percentile intervals at the "
            "one level at which the bootstrap replicates of all the column's differences lie inside their intervals "
            f"together 95 % of the time, Mandel & Betensky 2008; here {min(levels) * 100:.1f}–"
            f"{max(levels) * 100:.1f} %, against {100 * (1 - 0.05 / k):.1f} % for Bonferroni). Only such a difference "
            "is called one in the findings.")


def _ranking_lines(analysis: dict) -> list[str]:
    """The ranking's stability (``analysis["ranking"]``): per loss, best first by test lesion F1, its rank with the
    rank's bootstrap interval and the share of replicates where it ranks first, for each ranked metric."""
    ranking = analysis.get("ranking")
    if not ranking:
        return []
    metrics = list(ranking)
    names = {m: "voxel Dice" if m == "dice" else METRIC_NAMES[m] for m in metrics}
    head = "| loss | " + " | ".join(f"rank by {names[m]} [95 % interval] | first by {names[m]}" for m in metrics) + \
        " |"
    rows = ["How stable the order of the losses is (tuned operating point): each loss's rank on the test units (1: the "
            "highest mean; ties share the average rank), the interval of its rank over the bootstrap replicates "
            "(seeds and test cases resampled as for the intervals above) and the share of replicates in which it ranks "
            "first (a tie of t losses counts 1/t; Wiesenfarth et al. 2021, challengeR's bootstrap ranking). Losses "
            "whose rank intervals overlap are not ordered by these data.", "", head,
            "|---|" + "---:|---:|" * len(metrics)]
    order = sorted(ranking[metrics[0]], key=lambda k: (ranking[metrics[0]][k]["rank"], k))
    for loss in order:
        cells = [f"{r['rank']:g} [{r['low']:g}, {r['high']:g}] | {100 * r['first']:.0f} %"
                 for r in (ranking[m][loss] for m in metrics)]
        mark = " (degenerate)" if _is_degenerate(analysis, loss, "tuned") else ""
        rows.append(f"| `{loss}`{mark} | " + " | ".join(cells) + " |")
    return rows


def _froc_table(analysis: dict) -> str:
    rates = next(iter(analysis["froc"].values()))["rates"]
    head = "| loss | CPM | " + " | ".join(f"sens. @ {r:g} FP/case" for r in rates) + " |"
    rows = [head, "|---|---:|" + "---:|" * len(rates)]
    for loss, f in analysis["froc"].items():
        rows.append(f"| `{loss}` | {_ci(f['cpm'])} | " + " | ".join(_num(v) for v in f["sensitivity_at_rates"]) + " |")
    return "\n".join(rows)


def _validation_table(analysis: dict) -> str:
    v = analysis["validation"]
    rows = ["| loss | per seed: threshold / min size (mm³) | chosen over all seeds | validation lesion F1 there | "
            "validation lesion F1 at 0.5 |", "|---|---|---|---:|---:|"]
    for loss, d in v["losses"].items():
        seeds = ", ".join(f"{p['threshold']:.3g} / {p['min_size_mm3']:g}" for p in d["per_seed"])
        rows.append(f"| `{loss}` | {seeds} | {d['threshold']:.3g} / {d['min_size_mm3']:g} | "
                    f"{_ci(d['validation_f1'])} | {_ci(d['validation_f1_fixed'])} |")
    return "\n".join(rows)


def _recall_table(analysis: dict, op: str) -> str:
    bins = analysis["size_bins_mm3"]
    counts = analysis["lesions_by_size"]
    rows = ["| loss | " + " | ".join(f"{b} mm³ (n = {counts[b]})" for b in bins) + " |",
            "|---|" + "---:|" * len(bins)]
    for loss, ops in analysis["recall_by_size"].items():
        rows.append(f"| `{loss}` | " + " | ".join(_ci(ops[op][b]) for b in bins) + " |")
    return "\n".join(rows)


def _findings(analysis: dict) -> list[str]:
    base, seeds = analysis["baseline"], analysis["n_seeds"]
    lines = []
    for loss, ops in analysis["paired"].items():
        for op in ("tuned", "fixed"):
            if _is_degenerate(analysis, loss, op) or _is_degenerate(analysis, base, op):
                lines.append(f"`{loss}` vs `{base}` at the {OP_NAMES[op]}: not compared, one of them is degenerate "
                             "there (see Degenerate operating points).")
                continue
            for m in ("lesion_f1", "small_lesion_recall", "dice"):
                lines.append(finding(loss, base, f"{METRIC_NAMES[m]} ({OP_NAMES[op]})", ops[op][m], m, seeds=seeds))
        lines.append(finding(loss, base, "CPM of the FROC", analysis["froc"][loss]["cpm_vs_baseline"], seeds=seeds))
    return lines


def _validation_findings(analysis: dict) -> list[str]:
    v = analysis["validation"]
    best = v["best"]
    d = v["losses"][best]
    lines = [f"On the validation cases, `{best}` has the highest mean lesion F1 at its operating point (threshold "
             f"{d['threshold']:.3g}, minimum lesion size {d['min_size_mm3']:g} mm³): {_ci(d['validation_f1'])}."]
    for loss, cmp in v["best_vs"].items():
        lines.append(finding(best, loss, "validation lesion F1 (each at its own operating point)", cmp,
                             seeds=analysis["n_seeds"]))
    return lines


def format_table(analysis: dict) -> str:
    """The terminal table: per loss, test lesion F1 (tuned and at 0.5), small-lesion recall, Dice and CPM with
    intervals, and the lesion F1 difference to the baseline."""
    base = analysis["baseline"]
    head = (f"{'loss':<15} {'lesion F1 (tuned)':>24} {'lesion F1 (0.5)':>24} {'small recall (tuned)':>24} "
            f"{'Dice (tuned)':>24} {'CPM':>24} {'ΔF1 vs ' + base + ' (tuned)':>28}")
    lines = [f"test: {analysis['n_units']} case-seed units, {analysis['n_seeds']} seed(s); mean [95 % CI]", head]
    for loss, ops in analysis["table"].items():
        delta = analysis["paired"].get(loss, {}).get("tuned", {}).get("lesion_f1")
        name = loss + ("*" if _is_degenerate(analysis, loss, "tuned") else "")
        lines.append(f"{name:<15} {_ci(ops['tuned']['lesion_f1']):>24} {_ci(ops['fixed']['lesion_f1']):>24} "
                     f"{_ci(ops['tuned']['small_lesion_recall']):>24} {_ci(ops['tuned']['dice']):>24} "
                     f"{_ci(analysis['froc'][loss]['cpm']):>24} "
                     f"{(_diff_ci(delta['difference']) if delta else 'baseline'):>28}")
    if any(_is_degenerate(analysis, loss, "tuned") for loss in analysis["table"]):
        lines.append("* degenerate at its tuned operating point (report.md): not a usable model there")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_froc(analysis: dict, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for loss, f in analysis["froc"].items():
        fpc, sens = np.asarray(f["fp_per_case"], float), np.asarray(f["sensitivity"], float)
        order = np.argsort(fpc, kind="stable")
        x = np.r_[0.0, fpc[order]]
        y = np.r_[0.0, np.maximum.accumulate(np.nan_to_num(sens[order]))]
        ax.step(np.maximum(x, 1e-2), y, where="post", label=f"{loss} (CPM {_ci(f['cpm'])})")
    for r in next(iter(analysis["froc"].values()))["rates"]:
        ax.axvline(r, color="0.8", lw=0.8, ls=":")
    ax.set(xscale="log", xlim=(1e-2, 20), ylim=(0, 1.02), xlabel="false-positive components per case",
           ylabel="lesion sensitivity", title="FROC on the test cases (threshold sweep, pooled over seeds)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_forest(analysis: dict, path: Path) -> None:
    plt = _pyplot()
    panels = [*METRICS, "cpm"]
    losses = list(analysis["paired"])
    fig, axes = plt.subplots(2, 4, figsize=(14, max(5.0, 1.6 + 0.9 * len(losses))), squeeze=False,
                             layout="constrained")
    for ax, m in zip(axes.flat, panels, strict=False):
        for i, loss in enumerate(losses):
            y = len(losses) - 1 - i
            if m == "cpm":
                items = [("tuned", analysis["froc"][loss]["cpm_vs_baseline"])]
            else:
                items = [(op, analysis["paired"][loss][op][m]) for op in ("tuned", "fixed")]
            for k, (op, cmp) in enumerate(items):
                iv = cmp.get("difference", cmp)
                if not _finite(iv["estimate"]):
                    continue
                yy = y + (0.15 if k == 0 else -0.15)
                sim = simultaneous_interval(cmp)
                if sim is not None:  # the interval among the family of comparisons: a thin line under the 95 % CI
                    ax.plot([sim["low"], sim["high"]], [yy, yy], color="C0", lw=0.6, alpha=0.6)
                ax.errorbar(iv["estimate"], yy, xerr=[[iv["estimate"] - iv["low"]], [iv["high"] - iv["estimate"]]],
                            fmt="o" if op == "tuned" else "s", mfc="C0" if op == "tuned" else "white", color="C0",
                            capsize=2, ms=4)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(range(len(losses)), list(reversed(losses)), fontsize=8)
        ax.set_title(f"Δ {METRIC_NAMES.get(m, 'CPM')}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Paired difference to `{analysis['baseline']}` on the test cases, mean and 95 % CI "
                 "(filled: tuned operating point, hollow: threshold 0.5; thin line: simultaneous 95 % interval over "
                 "the losses)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_recall(analysis: dict, path: Path) -> None:
    plt = _pyplot()
    bins = analysis["size_bins_mm3"]
    losses = list(analysis["recall_by_size"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(losses), 1)
    x = np.arange(len(bins))
    for i, loss in enumerate(losses):
        ivs = [analysis["recall_by_size"][loss]["tuned"][b] for b in bins]
        est = np.array([iv["estimate"] if _finite(iv["estimate"]) else np.nan for iv in ivs])
        lo = np.array([iv["low"] if _finite(iv["low"]) else np.nan for iv in ivs])
        hi = np.array([iv["high"] if _finite(iv["high"]) else np.nan for iv in ivs])
        pos = x + i * width - 0.4 + width / 2
        ax.bar(pos, np.nan_to_num(est), width, label=loss)
        ax.errorbar(pos, np.nan_to_num(est), yerr=[np.nan_to_num(est - lo), np.nan_to_num(hi - est)], fmt="none",
                    ecolor="k", capsize=2, lw=0.8)
    ax.set_xticks(x, [f"{b} mm³\n(n = {analysis['lesions_by_size'][b]})" for b in bins])
    ax.set(ylabel="lesion recall", ylim=(0, 1.05),
           title="Test lesion recall by lesion size (tuned operating point), 95 % CI")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_examples(analysis: dict, setting, path: Path) -> None:
    plt = _pyplot()
    seed = setting.seeds[0]
    examples = {}
    for loss in setting.losses:
        run_dir = analysis.get("_run_dirs", {}).get(f"{loss}/seed{seed}")
        f = Path(run_dir) / analysis.get("_examples_file", "examples.npz") if run_dir else None
        examples[loss] = dict(np.load(f)) if f is not None and f.is_file() else {}
    ncols = max([sum(k.startswith("image_") for k in e) for e in examples.values()] + [1])
    fig, axes = plt.subplots(len(setting.losses), ncols, figsize=(3.2 * ncols, 3.2 * len(setting.losses)),
                             squeeze=False)
    for i, loss in enumerate(setting.losses):
        t = analysis["runs"][f"{loss}/seed{seed}"]["operating_point"]["threshold"]
        for j in range(ncols):
            ax = axes[i][j]
            ax.axis("off")
            e = examples[loss]
            if f"image_{j}" not in e:
                continue
            ax.imshow(e[f"image_{j}"].T, cmap="gray", origin="lower")
            if e[f"label_{j}"].any():
                ax.contour(e[f"label_{j}"].T, levels=[0.5], colors="lime", linewidths=1.0)
            pred = e[f"prob_{j}"].astype(np.float32).T > t
            ax.imshow(np.ma.masked_where(~pred, pred.astype(float)), cmap="autumn", alpha=0.55, origin="lower")
            ax.set_title(f"{loss} · {e[f'case_{j}']} · t = {t:.3g}", fontsize=8)
    fig.suptitle(f"Test slices (seed {seed}): lesion contour (green), prediction at the tuned threshold (red)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_curves(analysis: dict, setting, path: Path) -> None:
    """Validation lesion F1 against iterations (mean over seeds, band: lowest to highest seed) and the training
    loss per epoch (mean over seeds, divided by its first epoch's value: each loss on its own scale)."""
    plt = _pyplot()
    curves = analysis["curves"]["per_loss"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.5))
    for k, loss in enumerate(setting.losses):
        c = curves[loss]
        color = f"C{k % 10}"
        ax.plot(c["iterations"], c["mean"], color=color, lw=1.4, label=loss)
        ax.fill_between(c["iterations"], c["low"], c["high"], color=color, alpha=0.12, lw=0)
        per_seed = np.array([analysis["curves"]["train_loss_per_epoch"][f"{loss}/seed{s}"] for s in setting.seeds],
                            dtype=np.float64)
        mean = per_seed.mean(axis=0)
        epochs = np.arange(1, mean.size + 1)
        scale = mean[0] if mean.size and mean[0] != 0 else 1.0
        bx.plot(epochs * analysis["runs"][f"{loss}/seed{setting.seeds[0]}"]["iterations"] / max(mean.size, 1),
                mean / scale, color=color, lw=1.0, label=loss)
    for check in analysis.get("longer_budgets", []):
        for loss, c in check.get("curves", {}).items():
            k = list(setting.losses).index(loss) if loss in setting.losses else 0
            ax.plot(c["iterations"], c["mean"], color=f"C{k % 10}", lw=1.0, ls="--",
                    label=f"{loss}, {check['iterations']['longer']:,} it (seeds {', '.join(map(str, check['seeds']))})")
    budget = analysis["curves"]["budget"]
    start = min(p["from_iteration"] for p in budget["per_loss"].values())
    ax.axvspan(start, max(max(c["iterations"]) for c in curves.values()), color="0.9", zorder=0,
               label="last quarter (budget rule)")
    ax.set(xlabel="iteration", ylabel="validation lesion F1", ylim=(0, 1.0),
           title="Validation lesion F1 (best threshold; mean over seeds, band: min–max)")
    bx.set(xlabel="iteration", ylabel="training loss / first epoch", yscale="log",
           title="Training loss per epoch (mean over seeds)")
    for a in (ax, bx):
        a.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _budget_section(analysis: dict) -> list[str]:
    budget = analysis["curves"]["budget"]
    curves = analysis["curves"]["per_loss"]
    rows = ["| loss | validation lesion F1 at the end | at 0.5 | gain over the last quarter | plateaued |",
            "|---|---:|---:|---:|---|"]
    for loss, p in budget["per_loss"].items():
        c = curves[loss]
        mark = " (checked)" if loss in budget["checked"] else ""
        rows.append(f"| `{loss}`{mark} | {_num(c['mean'][-1])} [{_num(c['low'][-1])}–{_num(c['high'][-1])}] | "
                    f"{_num(c['mean_at_half'][-1])} | {_signed(p['gain'])} (from iteration {p['from_iteration']}) | "
                    f"{'yes' if p['plateaued'] else 'no'} |")
    verdict = ("Every checked loss satisfies it." if budget["satisfied"] else
               "A checked loss still gains by this rule. The learning rate decays to 0 at the end of the budget, so "
               "the last quarter also holds the gain of the decay itself: whether a longer budget would help is "
               "what the doubled-budget check below measures.")
    lines = [f"Curve rule: {budget['rule']}. Checked: {', '.join(f'`{k}`' for k in budget['checked'])}. {verdict}",
             "", *rows]
    checks = analysis.get("longer_budgets", [])
    if not checks:
        return lines + ["", "No doubled-budget check in this folder (`monai-segloss study budget DIR` trains the "
                            "checked losses again with twice the budget)."]
    for check in checks:
        lines += ["", *_longer_budget_lines(check)]
    return lines


def _budget_rows(check: dict, ranks: tuple[dict[str, str], dict[str, str]] | None = None, enough: str = "enough"
                 ) -> list[str]:
    """The table of a budget comparison (:func:`monai_segloss.app.budget.compare_budgets`): per loss, test lesion F1
    at both budgets (with each loss's rank at each, when ``ranks`` is given), the paired gains and the rule's verdict
    (column ``enough``)."""
    its = check["iterations"]
    rank = ranks is not None
    rows = [f"| loss | lesion F1, {its['base']:,} it |{' rank |' * rank} {its['longer']:,} it |{' rank |' * rank} "
            f"gain [95 % CI] | p | voxel Dice gain | small-lesion recall gain | {enough} |",
            "|---|---:|" + "---:|" * rank + "---:|" + "---:|" * rank + "---:|---:|---:|---:|---|"]
    for loss, d in check["per_loss"].items():
        f1 = d["lesion_f1"]
        r = [f" {ranks[0][loss]} |", f" {ranks[1][loss]} |"] if ranks is not None else ["", ""]
        rows.append(f"| `{loss}` | {_ci(f1['base'])} |{r[0]} {_ci(f1['longer'])} |{r[1]} "
                    f"{_diff_ci(f1['difference']['difference'])} | {_p(f1['difference']['p_value'])} | "
                    f"{_diff_ci(d['dice']['difference']['difference'])} | "
                    f"{_diff_ci(d['small_lesion_recall']['difference']['difference'])} | "
                    f"{'yes' if d['enough'] else 'no'} |")
    return rows


def _longer_budget_lines(check: dict) -> list[str]:
    if "error" in check:
        return [f"The longer-budget study in `{check['folder']}` does not fit this one: {check['error']}."]
    its = check["iterations"]
    seeds = ", ".join(map(str, check["seeds"]))
    verdict = ("The budget is enough by this rule: twice the budget raises no checked loss's test lesion F1 by the "
               "tolerance or significantly." if check["satisfied"] else
               "The budget is NOT enough by this rule: a checked loss gains from twice the budget, so the results "
               "below are not those of converged networks.")
    return [f"Doubled-budget check (`{check['folder']}`): the checked losses trained again for {its['longer']:,} "
            f"iterations instead of {its['base']:,} (the learning rate decaying to 0 at the new end; data, split, "
            f"network and learning rate unchanged) on seed(s) {seeds}, evaluated on the same {check['n_units']} test "
            f"units (tuned operating point; paired difference, longer minus the study's). Rule: {check['rule']}. "
            f"{verdict}", "", *_budget_rows(check)]


def _two_orders(analysis: dict, before: dict[str, float], now: dict[str, float]
                ) -> tuple[dict[str, str], dict[str, str], str]:
    """Each loss's rank by test lesion F1 ``before`` and ``now`` (a loss degenerate in this study unranked now) and
    Spearman's correlation of the two orders (as text), for the "what changes with budget" tables."""
    from .published import rank_agreement

    def order(values: dict[str, float], skip: set[str]) -> list[str]:
        return sorted((k for k in values if k not in skip), key=lambda k: -values[k])

    old = order(before, set())
    new = order(now, {k for k in now if _is_degenerate(analysis, k, "tuned")})
    rho = rank_agreement({k: -i for i, k in enumerate(old)}, {k: -i for i, k in enumerate(new)})
    ranks_now = {k: str(new.index(k) + 1) if k in new else "degenerate" for k in now}
    return ({k: str(old.index(k) + 1) for k in old}, ranks_now,
            f"{rho['spearman']:+.2f}" if _finite(rho["spearman"]) else "undefined")


def _shorter_budget_lines(analysis: dict, check: dict) -> list[str]:
    """This study against the same study with a shorter budget (``analysis["shorter_budgets"]``), paired on every
    unit: the gain of every loss, and each loss's rank at both budgets (degenerate losses of this study unranked)."""
    if "error" in check:
        return [f"The shorter-budget study in `{check['folder']}` does not fit this one: {check['error']}."]
    per_loss = check["per_loss"]
    before, now, rho_text = _two_orders(analysis, {k: d["lesion_f1"]["base"]["estimate"] for k, d in per_loss.items()},
                                        {k: d["lesion_f1"]["longer"]["estimate"] for k, d in per_loss.items()})
    short = [f"`{k}`" for k, d in per_loss.items() if not d["enough"]]
    its = check["iterations"]
    rule = (f"by the rule of the doubled-budget check (a gain under {DOUBLING_TOLERANCE:g} test lesion F1, not "
            "significant)")
    verdict = (f"The shorter budget was enough for every loss {rule}." if not short else
               f"The shorter budget was not enough for {', '.join(short)} {rule}.")
    return [f"The same study trained for {its['base']:,} iterations instead of {its['longer']:,} "
            f"(`{check['folder']}`: the same data, seeds, splits, test cases and learning rates; each budget's own "
            f"operating points), paired on all {check['n_units']} test units (seed(s) "
            f"{', '.join(map(str, check['seeds']))}; gain: this study minus the shorter one). {verdict} Spearman's "
            f"correlation of the two orders by test lesion F1 (tuned operating point): {rho_text}.", "",
            *_budget_rows(check, (before, now), "shorter budget enough")]


def _budget_change_section(analysis: dict) -> list[str]:
    """This study beside an earlier one with a shorter budget (``analysis["_earlier"]``: its ``what``,
    ``setting_values`` and ``table``), on the losses both trained: test lesion F1 and voxel Dice at the tuned
    operating point, and each loss's rank (degenerate losses of this study unranked)."""
    earlier = analysis["_earlier"]
    old, new = earlier["table"], analysis["table"]
    common = [k for k in new if k in old]
    old_rank, new_rank, rho_text = _two_orders(analysis, {k: old[k]["tuned"]["lesion_f1"]["estimate"] for k in common},
                                               {k: new[k]["tuned"]["lesion_f1"]["estimate"] for k in common})
    sv = earlier["setting_values"]
    iterations = max(r["iterations"] for r in analysis["runs"].values())
    rows = [f"| loss | lesion F1, {sv['epochs']} epochs | rank | lesion F1, {iterations:,} iterations | rank | "
            "voxel Dice, before | now |", "|---|---:|---:|---:|---:|---:|---:|"]
    for k in common:
        rows.append(f"| `{k}` | {_ci(old[k]['tuned']['lesion_f1'])} | {old_rank[k]} | "
                    f"{_ci(new[k]['tuned']['lesion_f1'])} | {new_rank[k]} | "
                    f"{_num(old[k]['tuned']['dice']['estimate'])} | {_num(new[k]['tuned']['dice']['estimate'])} |")
    return [f"The earlier study: {earlier['what']}. Its numbers are not paired with these (other data, test "
            f"cases and units), so the table compares levels and orders only. Spearman's correlation of the two "
            f"orders by test lesion F1 (tuned operating point): {rho_text}.", "", *rows]


def _lr_section(analysis: dict) -> list[str]:
    lrs = analysis.get("learning_rates", {})
    if not lrs:
        return []
    if any(d["validation_f1"] for d in lrs.values()):
        return ["Validation lesion F1 of the final network on the learning-rate seed's validation cases (best "
                "threshold), per AdamW learning rate; each loss trains every seed at its best rate.", "",
                *_lr_grid_lines(lrs)]
    fixed = ", ".join(f"`{loss}` {d['chosen']:g}" for loss, d in lrs.items())
    for check in analysis.get("shorter_budgets", []):  # the rates this study took from a shorter one's grid
        earlier = check.get("learning_rates") or {}
        if all(loss in earlier and earlier[loss]["chosen"] == d["chosen"] and earlier[loss]["validation_f1"]
               for loss, d in lrs.items()):
            return [f"Learning rates fixed beforehand ({fixed}): each loss's choice in the same study at "
                    f"{check['iterations']['base']:,} iterations (`{check['folder']}`), from its grid. Validation "
                    "lesion F1 of that study's final networks on the learning-rate seed's validation cases (best "
                    "threshold), per AdamW learning rate:", "",
                    *_lr_grid_lines({loss: earlier[loss] for loss in lrs})]
    return [f"Learning rates fixed beforehand (no grid in this setting): {fixed}."]


def _lr_grid_lines(lrs: dict) -> list[str]:
    """The learning-rate grid's table (validation lesion F1 per rate, the choice) and its edge choices."""
    grid = sorted({float(r) for d in lrs.values() for r in d["validation_f1"]})
    rows = ["| loss | " + " | ".join(f"lr {r:g}" for r in grid) + " | chosen |", "|---|" + "---:|" * len(grid) + "---|"]
    for loss, d in lrs.items():
        cells = [(_num(d["validation_f1"][f"{r:g}"]) if f"{r:g}" in d["validation_f1"] else "–") for r in grid]
        rows.append(f"| `{loss}` | " + " | ".join(cells) + f" | {d['chosen']:g}{' (fixed)' if d['fixed'] else ''} |")
    edges = []
    for loss, d in lrs.items():  # each loss's own grid (a study may give each loss a grid of its own)
        tried = sorted(float(r) for r in d["validation_f1"])
        if not d["fixed"] and len(tried) > 1 and d["chosen"] in (tried[0], tried[-1]):
            low = d["chosen"] == tried[0]
            edges.append(f"`{loss}` chose the {'smallest' if low else 'largest'} rate it tried: a "
                         f"{'smaller' if low else 'larger'} one was not tried.")
    return [*rows, *(["", *[f"- {e}" for e in edges]] if edges else [])]


def _brats_section(analysis: dict, setting) -> list[str]:
    if "brats2023" not in analysis:
        return []
    rows = ["| loss | lesion-wise Dice (tuned) | lesion-wise HD95 mm (tuned) | lesion F1 (tuned) | lesion-wise Dice "
            "(0.5) |", "|---|---:|---:|---:|---:|"]
    for loss, ops in analysis["brats2023"].items():
        mark = " (degenerate)" if _is_degenerate(analysis, loss, "tuned") else ""
        hd95 = _ci(ops["tuned"]["lesion_hd95"], "hd95_mm")
        rows.append(f"| `{loss}`{mark} | {_ci(ops['tuned']['lesion_dice'])} | {hd95} | {_ci(ops['tuned']['f1'])} | "
                    f"{_ci(ops['fixed']['lesion_dice'])} |")
    return [f"The BraTS 2023 lesion-wise rule ({setting.eval_spec().brats}: the target dilated once, lesions whose "
            "dilations touch merged, every predicted component touching a lesion's dilated region credited to it, "
            "lesions of 2 mm³ or less dropped; per lesion Dice and HD95, a miss or a false positive scoring Dice 0 "
            "and HD95 374 mm), averaged over the lesions and false positives of each case, then over the units.",
            "", *rows]


def _published_section(analysis: dict) -> list[str]:
    """Our test voxel Dice (tuned operating point) beside each published comparison, on the losses both report."""
    from .published import comparison_rows

    ours = {loss: ops["tuned"]["dice"]["estimate"] for loss, ops in analysis["table"].items()
            if not _is_degenerate(analysis, loss, "tuned")}
    lines = ["Voxel Dice is the score the published comparisons report; ours is the test voxel Dice at the tuned "
             "operating point (degenerate losses left out). Orders are best first; ρ is Spearman's rank correlation "
             "of the two orders (– with fewer than three common losses). Their data, networks and budgets are not "
             "ours: an order that differs says that the ranking depends on the task, not that either is wrong.", "",
             "| published | task | their order (score) | our order (test Dice) | ρ |", "|---|---|---|---|---:|"]
    for row in comparison_rows(ours, "test voxel Dice, tuned"):
        if len(row["theirs"]) < 2:
            continue
        theirs = ", ".join(f"`{k}` {row['theirs'][k]:.3f}" for k in row["their_order"])
        mine = ", ".join(f"`{k}` {_num(row['ours'][k])}" for k in row["our_order"])
        rho = f"{row['spearman']:+.2f}" if _finite(row["spearman"]) else "–"
        lines.append(f"| {row['anchor']} ({row['reference']}) | {row['task']} | {theirs} | {mine} | {rho} |")
    from .published import claim_rows

    for row in claim_rows(ours):
        where = (f"ours ranks `{row['best']}` {row['rank']} of {row['of']} by test voxel Dice ({_num(row['ours'])}; "
                 f"best `{row['our_best']}`)" if row["rank"] is not None else f"we did not train `{row['best']}`")
        lines += ["", f"{row['claim']} ({row['reference']}; {row['tasks']}): {row['text']}. Here, {where}."]
    return lines


def _degenerate_lines(analysis: dict) -> list[str]:
    lines = []
    for loss, ops in analysis["degenerate"].items():
        for op, d in ops.items():
            if d["degenerate"]:
                lines.append(f"`{loss}` at the {OP_NAMES[op]}: predicted volume {d['volume_ratio']:.1f}x the lesion "
                             f"volume; one component over a quarter of the grid in {d['spanning_share']:.0%} of the "
                             "units. Degenerate: not a usable model at this operating point, and not ranked.")
    return lines or ["No loss has a degenerate operating point (predicted volume over "
                     "10x the lesion volume, or one component over a quarter of the grid in most units)."]


def _json_ready(x: Any) -> Any:
    """NaN and infinities become null (strict JSON); numpy values become Python ones."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_ready(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _data_lines(data: dict) -> list[str]:
    v = data.get("lesion_volume_mm3", {})
    if not v.get("count"):
        return [f"- **lesions**: none in {data.get('num_cases')} cases"]
    return [f"- **lesions in the data set**: {data['lesion_count']} in {data['num_cases']} cases "
            f"({data['cases_without_lesion']} cases without lesion); volume median {v['median']:.0f} mm³ "
            f"(quartiles {v['p25']:.0f}–{v['p75']:.0f}, range {v['min']:.0f}–{v['max']:.0f}), "
            f"{100 * v['fraction_below_100']:.0f} % under 100 mm³"]


def write_report(out_dir: str | Path, analysis: dict, described: dict, data_stats: dict, timing: dict,
                 setting) -> dict[str, Path]:
    """Write ``report.md``, ``metrics.json`` and the figures into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.md", "metrics": out / "metrics.json",
             **{k: out / v for k, v in FIGURES.items()}}
    _plot_froc(analysis, paths["froc"])
    _plot_forest(analysis, paths["forest"])
    _plot_recall(analysis, paths["recall"])
    _plot_examples(analysis, setting, paths["examples"])
    _plot_curves(analysis, setting, paths["curves"])
    metrics = {"setting": described, "setting_values": dataclasses.asdict(setting), "data": data_stats,
               "timing": timing, **{k: v for k, v in analysis.items() if not k.startswith("_")}}
    paths["metrics"].write_text(json.dumps(_json_ready(metrics), indent=1) + "\n")
    base = analysis["baseline"]
    run_minutes = [(r["train_seconds"] + r["validation_seconds"]) / 60 for r in analysis["runs"].values()]
    text = "\n".join([
        f"# Loss comparison on small lesions — study setting `{described['setting']}`", "",
        "Every loss trained the same network with the same budget from the same seeds, each with its own learning "
        "rate chosen on validation. The test cases are fixed: the same for every seed and every loss, never used "
        "for training or for any choice. A seed fixes the split of the other cases into training and validation "
        "and the network's initialisation, identically for every loss. The operating point (probability threshold "
        "and minimum lesion size) is chosen on the validation cases of each run and applied unchanged to the test "
        "cases.", "",
        *[f"- **{k}**: {v if not isinstance(v, list) else ', '.join(map(str, v))}" for k, v in described.items()],
        *_data_lines(data_stats),
        f"- **test units**: {analysis['n_units']} (seed, case) pairs, {analysis['lesions_total']} lesions, "
        f"{analysis['lesion_free_units']} lesion-free",
        f"- **time**: {timing['wall_seconds'] / 60:.1f} min wall for this call, {timing['cpu_seconds'] / 60:.1f} min "
        f"CPU, {timing['workers']} worker process(es) x {timing['threads_per_worker']} thread(s); training "
        f"{min(run_minutes):.1f}–{max(run_minutes):.1f} min per run (with its validation curve), "
        f"{timing.get('train_seconds_total', 0.0) / 3600:.1f} h in all; {timing['runs_resumed']} run(s) resumed "
        f"from an earlier call", "",
        f"Cells: mean over the test units [95 % bootstrap CI] ({BOOTSTRAP_TEXT}). Lesion-wise metrics count "
        f"26-connected components matched {MATCHING_TEXT[setting.matching]}; "
        "a metric undefined for a case (e.g. sensitivity without lesions, precision without prediction, HD95 "
        "with an empty mask) skips it. Small lesions: under "
        f"{setting.small_mm3:g} mm³. CPM: mean sensitivity at 1/8–8 false-positive components per case, read "
        f"off the FROC of the {len(setting.thresholds)}-threshold sweep by linear interpolation between its points "
        "(LUNA16's convention; the step reading, the best point at or below each rate, is in metrics.json as "
        "cpm_step_reading).", "",
        "## Learning curves and the budget", "", *_budget_section(analysis), "",
        f"![curves]({FIGURES['curves']})", "",
        "## Learning rate per loss", "", *_lr_section(analysis), "",
        f"## Test results, {OP_NAMES['tuned']}", "", _results_table(analysis, "tuned"), "",
        f"## Test results, {OP_NAMES['fixed']}", "", _results_table(analysis, "fixed"), "",
        "## Degenerate operating points", "", *[f"- {s}" for s in _degenerate_lines(analysis)], "",
        "## The bundle's shipped configuration", "", *_shipped_section(analysis), "",
        f"## Paired differences against `{base}`", "",
        "Mean per-unit difference (loss minus baseline) [95 % CI] and the Wilcoxon signed-rank p-value, on the "
        "units where both are defined. The p-value treats the units as independent, which they are not (a seed's "
        "cases share a network, a case recurs in every seed); the interval accounts for both and decides. "
        f"{_family_sentence(analysis)}", "",
        f"### {OP_NAMES['tuned']}", "", _paired_table(analysis, "tuned"), "",
        f"### {OP_NAMES['fixed']}", "", _paired_table(analysis, "fixed"), "",
        "## Findings", "", *[f"- {s}" for s in _findings(analysis)], "",
        *(["## How stable is the ranking", "", *_ranking_lines(analysis), ""] if analysis.get("ranking") else []),
        "## Operating points (validation)", "", _validation_table(analysis), "",
        *[f"- {s}" for s in _validation_findings(analysis)], "",
        "## Lesion detection (FROC)", "", _froc_table(analysis), "",
        "## BraTS 2023 lesion-wise scores", "", *_brats_section(analysis, setting), "",
        "## Recall by lesion size (tuned operating point)", "",
        "Pooled recall Σ detected / Σ lesions per size bin [95 % CI].", "", _recall_table(analysis, "tuned"), "",
        "## Beside the published comparisons", "", *_published_section(analysis), "",
        *(["## What changes with budget", "",
           *[line for check in analysis.get("shorter_budgets", []) for line in
             (*_shorter_budget_lines(analysis, check), "")],
           *([*_budget_change_section(analysis), ""] if "_earlier" in analysis else [])]
          if "_earlier" in analysis or analysis.get("shorter_budgets") else []),
        "## Figures", "", *[f"![{k}]({v})" for k, v in FIGURES.items() if k != "curves"], "",
        "Every number, and the per-case values and counts the intervals came from, is in `metrics.json`.", ""])
    paths["report"].write_text(text)
    return paths
