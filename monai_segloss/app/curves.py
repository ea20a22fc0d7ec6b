"""Learning curves of the study and the budget rule read off them.

A run's curve (``training.json``, :func:`monai_segloss.app.training.train_run`) holds, at evenly spaced epochs, the
lesion F1 of every validation case at every curve threshold. Its **validation lesion F1** at a point is the mean over
the validation cases at the best threshold of that point (what an operating point tuned on validation would give;
the value at threshold 0.5 is kept beside it). A loss's curve is the mean of its runs' curves over the seeds, with
the lowest and highest seed as its band.

**Curve rule**: a loss has plateaued when its curve gains less than ``tolerance`` (0.01) over the last quarter of
training. The gain is read off the least-squares line through the curve's points from 75 % of the iterations to the
end (slope times that stretch's length), not off its two end points: a validation curve of a few cases moves by
several hundredths from point to point, and the line uses every point of the stretch. The rule is read for the
baseline and the two losses with the highest final validation F1.

Under a learning rate that decays to 0 at the end of the budget (the study's polynomial schedule) the last quarter
also holds what the decay itself gives (the weights settle as the steps shrink), so a gain there does not by itself
say that a longer budget would help. The decisive check trains the same losses with twice the budget
(:mod:`monai_segloss.app.budget`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["run_curve", "loss_curve", "plateau", "budget_check", "PLATEAU_FRACTION", "PLATEAU_TOLERANCE"]

PLATEAU_FRACTION = 0.25
PLATEAU_TOLERANCE = 0.01


def run_curve(record: dict[str, Any]) -> dict[str, list[float]]:
    """One run's curve: ``iterations``, ``f1`` (best threshold) and ``f1_at_half`` (threshold 0.5), per point."""
    thresholds = list(record["curve_thresholds"])
    half = thresholds.index(0.5)
    best, at_half = [], []
    for point in record["curve"]:
        f1 = np.array(list(point["f1"].values()), dtype=np.float64).reshape(-1, len(thresholds))
        mean = np.nanmean(f1, axis=0) if f1.size else np.full(len(thresholds), np.nan)
        best.append(float(np.nanmax(mean)) if np.isfinite(mean).any() else float("nan"))
        at_half.append(float(mean[half]))
    return {"iterations": [int(p["iteration"]) for p in record["curve"]], "f1": best, "f1_at_half": at_half}


def loss_curve(records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The mean curve of one loss over its runs (one per seed), with the lowest / highest run as the band.

    Raises:
        ValueError: no run, or runs whose curve points fall at different iterations.
    """
    if not records:
        raise ValueError("records must hold at least one run")
    curves = [run_curve(r) for r in records]
    its = curves[0]["iterations"]
    if any(c["iterations"] != its for c in curves):
        raise ValueError("the runs' curve points fall at different iterations: one budget per loss is expected")
    f1 = np.array([c["f1"] for c in curves], dtype=np.float64)
    half = np.array([c["f1_at_half"] for c in curves], dtype=np.float64)
    return {"iterations": its, "mean": f1.mean(axis=0).tolist(), "low": f1.min(axis=0).tolist(),
            "high": f1.max(axis=0).tolist(), "mean_at_half": half.mean(axis=0).tolist(), "runs": len(records)}


def plateau(iterations: list[int], values: list[float], fraction: float = PLATEAU_FRACTION,
            tolerance: float = PLATEAU_TOLERANCE) -> dict[str, Any]:
    """The gain of a curve over its last ``fraction`` of the iterations, and whether it is below ``tolerance``.

    The last stretch starts at the curve point nearest ``(1 - fraction)`` of the last point's iterations; its gain is
    the slope of the least-squares line through the stretch's points times the stretch's length in iterations (with
    two points, their difference).

    Example:
        >>> p = plateau([100, 200, 300, 400, 500, 600, 700, 800], [0.5, 0.7, 0.8, 0.84, 0.85, 0.86, 0.85, 0.865])
        >>> p["from_iteration"], round(p["gain"], 4), p["plateaued"]
        (600, 0.005, True)
    """
    if len(iterations) != len(values) or len(iterations) < 2:
        raise ValueError("iterations and values must be two or more points of one curve")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    its = np.asarray(iterations, dtype=np.float64)
    start = min(int(np.argmin(np.abs(its - (1 - fraction) * its[-1]))), len(its) - 2)
    x, y = its[start:], np.asarray(values[start:], dtype=np.float64)
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
    gain = slope * float(x[-1] - x[0])
    return {"from_iteration": int(iterations[start]), "gain": gain, "plateaued": bool(gain < tolerance)}


def budget_check(curves: dict[str, dict[str, Any]], baseline: str, fraction: float = PLATEAU_FRACTION,
                 tolerance: float = PLATEAU_TOLERANCE) -> dict[str, Any]:
    """The budget rule (module doc) over the losses' curves (:func:`loss_curve`)."""
    ranked = sorted(curves, key=lambda k: -curves[k]["mean"][-1])
    checked = list(dict.fromkeys([baseline, *ranked[:2]]))
    per_loss = {k: plateau(c["iterations"], c["mean"], fraction, tolerance) for k, c in curves.items()}
    return {"rule": f"validation lesion F1 (mean over seeds, best threshold) gains less than {tolerance:g} over the "
                    f"last {fraction:.0%} of training (least-squares line through that stretch's points), for the "
                    f"baseline and the two best losses",
            "checked": checked, "per_loss": per_loss,
            "satisfied": all(per_loss[k]["plateaued"] for k in checked)}
