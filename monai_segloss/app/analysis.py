"""The study's statistics: from the per-run results to intervals, paired comparisons, FROC/CPM and operating points.

Units. One unit is one test case of one seed, ``(seed, case)``; every loss is evaluated on the same units (a seed
fixes the split for every loss). The test cases are the same under every seed, so seeds and cases are crossed: test
intervals come from the crossed bootstrap of :mod:`monai_segloss.evaluation.statistics` (seeds and cases resampled
independently; with one seed, the case bootstrap), 95 % percentile intervals; one set of bootstrap weights serves
every loss, so paired differences are resampled jointly. The validation cases differ from seed to seed (nested in
the seeds): validation intervals use the two-level bootstrap (seeds, then cases within a seed).

- **table**: per loss and operating point (``fixed``: threshold 0.5, no minimum size; ``tuned``: each run's
  validation-chosen threshold and minimum size; ``shipped``, for the bundle's default loss only: the bundle's
  threshold and minimum size), the mean over units of each per-case metric (NaN cases skipped: e.g. sensitivity on a
  lesion-free case) with its interval;
- **paired**: per loss against the baseline (Dice loss), the mean per-unit difference with its interval and the
  Wilcoxon signed-rank p-value, on units where both are defined, and (``simultaneous``) its interval among the
  family of every loss's comparison with the baseline on that metric and operating point, which holds for the whole
  family at 95 % (:func:`~monai_segloss.evaluation.statistics.simultaneous_paired_intervals`): the multiple-comparison
  correction;
- **ranking**: how stable the order of the losses is (test lesion F1 and voxel Dice at the tuned operating point):
  per loss its rank, the interval of its rank over the bootstrap replicates and the share of replicates where it
  ranks first (:func:`~monai_segloss.evaluation.statistics.bootstrap_ranks`);
- **recall by size**: per size bin, the pooled recall ``Σ detected / Σ lesions`` with its interval;
- **FROC / CPM**: per loss, the pooled FROC curve of the threshold sweep (no minimum size) and its CPM (LUNA16's
  linear interpolation between the sweep's points), with the interval of the CPM and of its paired difference to the
  baseline (and that difference's simultaneous interval over the family of losses);
- **BraTS 2023**: per loss and operating point, the lesion-wise Dice, HD95 and F1 of the BraTS 2023 rule
  (:mod:`monai_segloss.evaluation.brats2023`);
- **degenerate operating points**, **learning curves** and the **budget rule** (:mod:`monai_segloss.app.curves`);
- **operating points**: per run the validation-chosen point; per loss the point maximising the mean validation
  lesion F1 over all seeds' validation cases (what a bundle would ship), the validation F1 there with its
  interval, and the paired validation comparison of the best loss against every other (with simultaneous
  intervals over those comparisons).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluation.froc import LUNA16_RATES, Interpolation, cpm, froc_points, sensitivity_at
from ..evaluation.statistics import (
    Interval,
    bootstrap_ranks,
    bootstrap_weights,
    crossed_bootstrap_weights,
    mean_interval,
    paired_comparison,
    percentile_interval,
    ratio_interval,
    simultaneous_paired_intervals,
    simultaneous_percentile_intervals,
)
from .curves import budget_check, loss_curve
from .evaluate import choose_operating_point

__all__ = ["METRICS", "OPERATING_POINTS", "analyse"]

METRICS = ("dice", "lesion_f1", "lesion_sensitivity", "lesion_precision", "small_lesion_recall", "hd95_mm")
OPERATING_POINTS = ("fixed", "tuned", "shipped")
# the metrics whose order of the losses (at the tuned operating point) the report checks for stability
RANKED_METRICS = ("lesion_f1", "dice")
# a (loss, operating point) is degenerate when it predicts over this many times the lesion volume (pooled over the
# test units), or when, in over half of the units, one predicted component covers over this fraction of the grid
# (the grid is cropped to the brain: a quarter of it is about half the brain)
DEGENERATE_VOLUME_RATIO = 10.0
# the per-case lesion F1 under the other matching rule, kept beside the study's own
OTHER_F1 = {"one_to_one": "lesion_f1_any_overlap", "any_overlap": "lesion_f1_one_to_one"}
DEGENERATE_COMPONENT_FRACTION = 0.25


def _by_key(results: list[dict]) -> dict[tuple[str, int], dict]:
    return {(r["loss"], int(r["seed"])): r for r in results}


def _operating_points(setting, runs, units) -> dict[str, tuple[str, ...]]:
    """Per loss, the operating points of :data:`OPERATING_POINTS` its test rows hold on every unit (``shipped``:
    only the bundle's default loss)."""
    return {loss: tuple(op for op in OPERATING_POINTS if all(op in runs[(loss, s)]["test"][c] for s, c in units))
            for loss in setting.losses}


def _units(setting, runs: dict[tuple[str, int], dict], split: str) -> list[tuple[int, str]]:
    """The (seed, case) units of ``split`` ("test" or "validation"), checked identical for every loss."""
    units = []
    for seed in setting.seeds:
        key = "test" if split == "test" else "validation_f1"
        cases = sorted(runs[(setting.losses[0], seed)][key])
        for loss in setting.losses:
            if sorted(runs[(loss, seed)][key]) != cases:
                raise ValueError(f"loss {loss!r} seed {seed} was evaluated on other {split} cases than "
                                 f"{setting.losses[0]!r}; rerun the study in a fresh folder")
        units += [(seed, c) for c in cases]
    return units


# the CPM reads the FROC at the LUNA16 rates by linear interpolation between the sweep's points, as LUNA16's own
# evaluation does (froc.sensitivity_at); the step reading (the best point at or below each rate) is kept beside it
CPM_INTERPOLATION: Interpolation = "luna16"


def _simultaneous(bounds: tuple[float, float], level: float, family: int) -> dict[str, Any]:
    """A comparison's interval among its family (``family`` comparisons; ``level``: the common per-comparison
    level that makes the family's intervals hold together at 95 %)."""
    return {"low": bounds[0], "high": bounds[1], "level": level, "family": family}


def _add_simultaneous(comparisons: dict[str, dict], pairs: dict[str, tuple[np.ndarray, np.ndarray]],
                      weights: np.ndarray) -> None:
    """Store in every ``comparisons[loss]`` (a :meth:`PairedComparison.as_dict`) its simultaneous interval among
    all the ``pairs`` (one family)."""
    if not pairs:
        return
    intervals, level = simultaneous_paired_intervals(list(pairs.values()), weights)
    for loss, iv in zip(pairs, intervals, strict=True):
        comparisons[loss]["simultaneous"] = _simultaneous((iv.low, iv.high), level, len(pairs))


def _cpm_replicates(d: np.ndarray, nt: np.ndarray, fp: np.ndarray, w: np.ndarray) -> np.ndarray:
    fpc, sens = froc_points(w @ d, w @ nt, w @ fp, w.sum(axis=1))
    return cpm(fpc, sens, interpolation=CPM_INTERPOLATION)


def _froc(setting, runs, units, weights) -> dict[str, Any]:
    out: dict[str, Any] = {}
    arrays = {}
    for loss in setting.losses:
        rows = [runs[(loss, s)]["test"][c] for s, c in units]
        d = np.array([r["froc_detected"] for r in rows], dtype=np.float64)
        fp = np.array([r["froc_false_positives"] for r in rows], dtype=np.float64)
        nt = np.array([r["n_target"] for r in rows], dtype=np.float64)
        arrays[loss] = (d, nt, fp)
        fpc, sens = froc_points(d.sum(0), nt.sum(), fp.sum(0), len(units))
        reps = _cpm_replicates(d, nt, fp, weights)
        at = sensitivity_at(fpc, sens, interpolation=CPM_INTERPOLATION)
        out[loss] = {"thresholds": list(setting.thresholds), "fp_per_case": fpc.tolist(), "sensitivity": sens.tolist(),
                     "rates": list(LUNA16_RATES), "sensitivity_at_rates": at.tolist(),
                     "cpm": Interval(float(cpm(fpc, sens, interpolation=CPM_INTERPOLATION)),
                                     *percentile_interval(reps), len(units)).as_dict(),
                     "cpm_step_reading": float(cpm(fpc, sens, interpolation="step")),
                     "_replicates": reps}
    base = setting.baseline
    others = [loss for loss in setting.losses if loss != base]
    diffs = {loss: out[loss]["_replicates"] - out[base]["_replicates"] for loss in others}
    for loss in others:
        out[loss]["cpm_vs_baseline"] = Interval(out[loss]["cpm"]["estimate"] - out[base]["cpm"]["estimate"],
                                                *percentile_interval(diffs[loss]), len(units)).as_dict()
    if others:
        bounds, level = simultaneous_percentile_intervals(np.stack([diffs[loss] for loss in others]))
        for loss, b in zip(others, bounds, strict=True):
            out[loss]["cpm_vs_baseline"]["simultaneous"] = _simultaneous(b, level, len(others))
    for loss in setting.losses:
        del out[loss]["_replicates"]
    return out


def _validation(setting, runs) -> dict[str, Any]:
    """Operating points and validation lesion F1 (per run, per loss) and the validation ranking of the losses."""
    units = _units(setting, runs, "validation")
    weights = bootstrap_weights([s for s, _ in units], setting.n_boot, seed=1)
    ts, ms = setting.thresholds, setting.min_sizes_mm3
    i_fixed = ts.index(0.5)
    per_loss: dict[str, Any] = {}
    values: dict[str, np.ndarray] = {}
    for loss in setting.losses:
        grids = [runs[(loss, s)]["validation_f1"][c] for s, c in units]
        t, m = choose_operating_point(grids, ts, ms)
        at = np.array([g[ts.index(t)][ms.index(m)] for g in grids], dtype=np.float64)
        fixed = np.array([g[i_fixed][0] for g in grids], dtype=np.float64)
        values[loss] = at
        per_loss[loss] = {
            "per_seed": [{"seed": s, **runs[(loss, s)]["operating_point"]} for s in setting.seeds],
            "threshold": t, "min_size_mm3": m,
            "validation_f1": mean_interval(at, weights).as_dict(),
            "validation_f1_fixed": mean_interval(fixed, weights).as_dict(),
            "validation_f1_per_unit": at.tolist(),
        }
    best = max(setting.losses, key=lambda k: (per_loss[k]["validation_f1"]["estimate"], k == setting.baseline))
    versus = {loss: paired_comparison(values[best], values[loss], weights).as_dict()
              for loss in setting.losses if loss != best}
    _add_simultaneous(versus, {loss: (values[best], values[loss]) for loss in versus}, weights)
    return {"units": [{"seed": s, "case": c} for s, c in units], "losses": per_loss, "best": best,
            "best_vs": versus}


BRATS_METRICS = ("lesion_dice", "lesion_hd95", "f1")


def _brats(setting, runs, units, weights, ops) -> dict[str, Any]:
    """Per loss and operating point: the BraTS 2023 lesion-wise Dice, HD95 and F1 (mean over units, interval)."""
    return {loss: {op: {m: mean_interval(np.array([runs[(loss, s)]["test"][c][op]["brats2023"][m] for s, c in units],
                                                  dtype=np.float64), weights).as_dict() for m in BRATS_METRICS}
                   for op in ops[loss]} for loss in setting.losses}


def _unit_counts(setting, runs, units, ops) -> dict[str, Any]:
    """The per-unit counts behind the FROC / CPM and the recall-by-size intervals (in the order of ``units``)."""
    out: dict[str, Any] = {}
    for loss in setting.losses:
        rows = [runs[(loss, s)]["test"][c] for s, c in units]
        out[loss] = {"n_target": [r["n_target"] for r in rows],
                     "froc_detected": [r["froc_detected"] for r in rows],
                     "froc_false_positives": [r["froc_false_positives"] for r in rows],
                     **{f"{op}_bin_targets": [r[op]["bin_targets"] for r in rows] for op in ops[loss]},
                     **{f"{op}_bin_detected": [r[op]["bin_detected"] for r in rows] for op in ops[loss]}}
    return out


def _degenerate(setting, runs, units, ops) -> dict[str, dict[str, Any]]:
    """Per loss and operating point: the pooled predicted / target volume, the share of units whose largest
    component covers over :data:`DEGENERATE_COMPONENT_FRACTION` of the grid, and the flag."""
    out: dict[str, dict[str, Any]] = {}
    for loss in setting.losses:
        out[loss] = {}
        for op in ops[loss]:
            rows = [runs[(loss, s)]["test"][c][op] for s, c in units]
            pred = sum(r["pred_voxels"] for r in rows)
            target = sum(r["target_voxels"] for r in rows)
            ratio = pred / target if target else float("inf") if pred else 0.0
            spanning = float(np.mean([r["largest_component_voxels"] > DEGENERATE_COMPONENT_FRACTION * r["grid_voxels"]
                                      for r in rows]))
            out[loss][op] = {"volume_ratio": ratio, "spanning_share": spanning,
                             "degenerate": bool(ratio > DEGENERATE_VOLUME_RATIO or spanning > 0.5)}
    return out


def _curves(setting, runs) -> dict[str, Any]:
    curves = {loss: loss_curve([runs[(loss, s)]["training"] for s in setting.seeds]) for loss in setting.losses}
    return {"per_loss": curves, "budget": budget_check(curves, setting.baseline),
            "train_loss_per_epoch": {f"{loss}/seed{s}": runs[(loss, s)]["training"]["train_loss_per_epoch"]
                                     for loss in setting.losses for s in setting.seeds}}


def analyse(setting, results: list[dict], run_dirs: dict[tuple[str, int], str] | None = None) -> dict[str, Any]:
    """All statistics of a finished study (module docstring); plain data, JSON-ready but for NaN. ``run_dirs``
    (where each run's files lie) is kept out of the returned dictionary's JSON part (key ``_run_dirs``)."""
    runs = _by_key(results)
    units = _units(setting, runs, "test")
    # the test cases are the same under every seed: seeds and cases are crossed
    weights = crossed_bootstrap_weights([s for s, _ in units], [c for _, c in units], setting.n_boot, seed=0)
    base = setting.baseline
    ops = _operating_points(setting, runs, units)
    values = {loss: {op: {m: np.array([runs[(loss, s)]["test"][c][op][m] for s, c in units], dtype=np.float64)
                          for m in METRICS} for op in ops[loss]} for loss in setting.losses}
    table = {loss: {op: {m: mean_interval(values[loss][op][m], weights).as_dict() for m in METRICS}
                    for op in ops[loss]} for loss in setting.losses}
    paired = {loss: {op: {m: paired_comparison(values[loss][op][m], values[base][op][m], weights).as_dict()
                          for m in METRICS} for op in ops[loss] if op in ops[base]}
              for loss in setting.losses if loss != base}
    for op in ops[base]:  # one family per operating point and metric: every loss against the baseline
        for m in METRICS:
            _add_simultaneous({loss: per[op][m] for loss, per in paired.items() if op in per},
                              {loss: (values[loss][op][m], values[base][op][m]) for loss, per in paired.items()
                               if op in per}, weights)
    ranking = {m: dict(zip(setting.losses, bootstrap_ranks([values[loss]["tuned"][m] for loss in setting.losses],
                                                           weights), strict=True))
               for m in RANKED_METRICS}
    edges = list(setting.size_bins)
    names = [f"< {edges[0]:g}"] + [f"{a:g}–{b:g}" for a, b in zip(edges[:-1], edges[1:], strict=True)] + \
        [f">= {edges[-1]:g}"]
    recall: dict[str, dict[str, Any]] = {}
    for loss in setting.losses:
        recall[loss] = {}
        for op in ops[loss]:
            rows = [runs[(loss, s)]["test"][c][op] for s, c in units]
            bt = np.array([r["bin_targets"] for r in rows], dtype=np.float64)
            bd = np.array([r["bin_detected"] for r in rows], dtype=np.float64)
            recall[loss][op] = {n: ratio_interval(bd[:, i], bt[:, i], weights).as_dict() for i, n in enumerate(names)}
    lesion_counts = {n: int(sum(runs[(setting.losses[0], s)]["test"][c]["fixed"]["bin_targets"][i]
                                for s, c in units)) for i, n in enumerate(names)}
    return {
        "baseline": base,
        "units": [{"seed": s, "case": c} for s, c in units],
        "n_units": len(units),
        "n_seeds": len(setting.seeds),
        "table": table,
        "paired": paired,
        "ranking": ranking,
        "recall_by_size": recall,
        "size_bins_mm3": names,
        "lesions_by_size": lesion_counts,
        "froc": _froc(setting, runs, units, weights),
        "brats2023": _brats(setting, runs, units, weights, ops),
        "validation": _validation(setting, runs),
        "per_unit": {loss: {op: {m: v.tolist() for m, v in ops.items()} for op, ops in per.items()}
                     for loss, per in values.items()},
        "per_unit_other_matching": {loss: {op: [runs[(loss, s)]["test"][c][op][OTHER_F1[setting.matching]]
                                                for s, c in units] for op in ops[loss]}
                                    for loss in setting.losses},
        "per_unit_counts": _unit_counts(setting, runs, units, ops),
        "degenerate": _degenerate(setting, runs, units, ops),
        "curves": _curves(setting, runs),
        "runs": {f"{loss}/seed{seed}": {"learning_rate": runs[(loss, seed)]["learning_rate"],
                                        "iterations": runs[(loss, seed)]["training"]["iterations"],
                                        "train_seconds": runs[(loss, seed)]["training"]["train_seconds"],
                                        "validation_seconds": runs[(loss, seed)]["training"]["validation_seconds"],
                                        "eval_seconds": runs[(loss, seed)]["eval_seconds"],
                                        "operating_point": runs[(loss, seed)]["operating_point"]}
                 for loss in setting.losses for seed in setting.seeds},
        "_run_dirs": {f"{loss}/seed{seed}": d for (loss, seed), d in (run_dirs or {}).items()},
        "lesions_total": int(sum(runs[(setting.losses[0], s)]["test"][c]["n_target"] for s, c in units)),
        "lesion_free_units": int(sum(runs[(setting.losses[0], s)]["test"][c]["n_target"] == 0 for s, c in units)),
    }
