"""Does a smaller study (the demo: fewer losses and seeds) say anything the full study contradicts?

A difference the smaller study reports as significant (its 95 % interval excludes zero, and in a family of
comparisons its simultaneous interval too: :func:`~monai_segloss.evaluation.statistics.significant`) must not have
the opposite sign in the full study (its mean difference against the same baseline). :func:`sign_conflicts` lists
every paired comparison of ``metrics.json`` (each metric at each operating point, and the CPM) where that fails.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..evaluation.statistics import significant

__all__ = ["significant_differences", "sign_conflicts"]


def _comparisons(metrics: dict[str, Any]) -> Iterator[tuple[tuple[str, str, str], dict[str, Any]]]:
    """((loss, operating point, metric), comparison) of every paired difference against the baseline (a stored
    :class:`~monai_segloss.evaluation.statistics.PairedComparison`, or the CPM's interval)."""
    for loss, ops in metrics.get("paired", {}).items():
        for op, per_metric in ops.items():
            for metric, comparison in per_metric.items():
                yield (loss, op, metric), comparison
    for loss, froc in metrics.get("froc", {}).items():
        if froc.get("cpm_vs_baseline"):
            yield (loss, "froc", "cpm"), froc["cpm_vs_baseline"]


def significant_differences(metrics: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, float]]:
    """The paired differences (their intervals) the study reports as significant, by (loss, operating point,
    metric): those :func:`~monai_segloss.evaluation.statistics.significant`, in a study of two or more seeds. A
    one-seed study (``n_seeds`` 1, such as the demo) reports none: its intervals resample the test cases only,
    without the variation between training runs, and its report says so (:func:`monai_segloss.app.report.finding`).

    Example:
        >>> f1 = {"difference": {"estimate": -0.03, "low": -0.1, "high": 0.03}}
        >>> small = {"difference": {"estimate": 0.06, "low": 0.01, "high": 0.11}}
        >>> m = {"paired": {"dice_ce": {"tuned": {"lesion_f1": f1, "small_lesion_recall": small}}}}
        >>> list(significant_differences(m))
        [('dice_ce', 'tuned', 'small_lesion_recall')]
    """
    if metrics.get("n_seeds", 2) < 2:
        return {}
    return {key: c.get("difference", c) for key, c in _comparisons(metrics) if significant(c)}


def sign_conflicts(small: dict[str, Any], full: dict[str, Any]) -> list[dict[str, Any]]:
    """The significant differences of ``small`` whose sign the ``full`` study's mean difference contradicts.

    Both ``metrics.json`` must compare against the same baseline (else ``ValueError``). A comparison the full study
    does not make (a loss or metric it lacks) is listed with ``full: None``: an untested claim is not an agreement.

    Returns:
        one dict per conflict: ``loss``, ``op``, ``metric``, ``small`` and ``full`` (their intervals).
    """
    if small.get("baseline") != full.get("baseline"):
        raise ValueError(f"the two studies compare against different baselines: {small.get('baseline')!r} and "
                         f"{full.get('baseline')!r}")
    theirs = {key: c.get("difference", c) for key, c in _comparisons(full)}
    out = []
    for (loss, op, metric), iv in significant_differences(small).items():
        other = theirs.get((loss, op, metric))
        estimate = other.get("estimate", math.nan) if other is not None else math.nan
        if other is None or not math.isfinite(estimate) or estimate * iv["estimate"] < 0:
            out.append({"loss": loss, "op": op, "metric": metric, "small": iv, "full": other})
    return out
