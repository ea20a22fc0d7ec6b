"""The doubled-budget check: would training longer change the study's results?

The study's learning rate decays polynomially to 0 at the end of the budget, so the last quarter of its learning
curves also holds what the decay itself gives (:mod:`monai_segloss.app.curves`). Whether the budget is enough is
settled by training again with ``factor`` times the budget (the schedule stretched to the new end, every other
choice kept: data, split, network, each loss's chosen learning rate), for the losses the budget rule reads (the
baseline and the two with the highest final validation lesion F1), on some of the study's seeds
(:func:`monai_segloss.app.study.run_budget_check`), and comparing the two on the same test units.

**Doubling rule**: the budget is enough for a loss when the longer training gains less than ``tolerance`` (0.01)
test lesion F1 at the tuned operating point (mean over the checked seeds' test units) and the gain is not
significant (its 95 % interval reaches 0 or below). The budget is enough when that holds for every checked loss.

The intervals resample the units with the crossed bootstrap of the study (seeds and the fixed test cases drawn
independently, :func:`~monai_segloss.evaluation.statistics.crossed_bootstrap_weights`); the same weights resample
both budgets, so the difference is paired.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluation.statistics import crossed_bootstrap_weights, mean_interval, paired_comparison

__all__ = ["DOUBLING_TOLERANCE", "DOUBLING_METRICS", "compare_budgets"]

DOUBLING_TOLERANCE = 0.01
# compared at the tuned operating point (each run's validation-chosen threshold and minimum size); the rule reads
# the first
DOUBLING_METRICS = ("lesion_f1", "dice", "small_lesion_recall")


def compare_budgets(base: dict[str, Any], longer: dict[str, Any], n_boot: int = 2000,
                    tolerance: float = DOUBLING_TOLERANCE) -> dict[str, Any]:
    """The doubling rule (module doc) from two studies' ``metrics.json``: ``base`` (the study) and ``longer`` (its
    losses retrained with a longer budget on some of its seeds).

    Args:
        base: the study's metrics (``units``, ``per_unit``, ``setting_values``).
        longer: the longer study's metrics; its units must all be units of ``base`` and its losses losses of ``base``.
        n_boot: bootstrap replicates. Default 2000.
        tolerance: the largest test lesion F1 gain that still counts as no gain. Default 0.01.

    Returns:
        ``per_loss[loss][metric]``: ``base`` and ``longer`` (mean with interval on the longer study's units) and
        ``difference`` (longer minus base, paired, with the Wilcoxon p-value); ``per_loss[loss]["enough"]``;
        ``satisfied`` (every checked loss), ``rule``, the two budgets in iterations and the units' seeds.

    Raises:
        ValueError: a unit or loss of ``longer`` missing from ``base``, or a longer budget that is not longer.

    Example:
        >>> u = [{"seed": 0, "case": "a"}, {"seed": 0, "case": "b"}]
        >>> def m(epochs, f1):
        ...     return {"units": u, "setting_values": {"epochs": epochs}, "per_unit": {"dice": {"tuned": {
        ...         "lesion_f1": f1, "dice": f1, "small_lesion_recall": f1}}}}
        >>> out = compare_budgets(m(800, [0.8, 0.6]), m(1600, [0.8, 0.64]), n_boot=200)
        >>> round(out["per_loss"]["dice"]["lesion_f1"]["difference"]["difference"]["estimate"], 3), out["satisfied"]
        (0.02, False)
    """
    epochs = (int(base["setting_values"]["epochs"]), int(longer["setting_values"]["epochs"]))
    if epochs[1] <= epochs[0]:
        raise ValueError(f"the longer study must train longer: {epochs[1]} epochs against {epochs[0]}")
    index = {(int(u["seed"]), str(u["case"])): i for i, u in enumerate(base["units"])}
    units = [(int(u["seed"]), str(u["case"])) for u in longer["units"]]
    absent = [u for u in units if u not in index]
    if absent:
        raise ValueError(f"the longer study's units {absent[:3]} are not units of the study: the same data set and "
                         "seeds are expected")
    if missing := sorted(set(longer["per_unit"]) - set(base["per_unit"])):
        raise ValueError(f"losses {missing} of the longer study are not in the study")
    at = np.array([index[u] for u in units])
    weights = crossed_bootstrap_weights([s for s, _ in units], [c for _, c in units], n_boot, seed=0)
    per_loss: dict[str, dict[str, Any]] = {}
    for loss, ops in longer["per_unit"].items():
        per_loss[loss] = {}
        for metric in DOUBLING_METRICS:
            a = np.asarray(ops["tuned"][metric], dtype=np.float64)
            b = np.asarray(base["per_unit"][loss]["tuned"][metric], dtype=np.float64)[at]
            per_loss[loss][metric] = {"base": mean_interval(b, weights).as_dict(),
                                      "longer": mean_interval(a, weights).as_dict(),
                                      "difference": paired_comparison(a, b, weights).as_dict()}
        gain = per_loss[loss][DOUBLING_METRICS[0]]["difference"]["difference"]
        per_loss[loss]["enough"] = bool(gain["estimate"] < tolerance and not gain["low"] > 0)
    return {"rule": f"twice the budget gains less than {tolerance:g} test lesion F1 (tuned operating point) and no "
                    f"significant gain, for the baseline and the two best losses",
            "epochs": {"base": epochs[0], "longer": epochs[1]},
            "seeds": sorted({s for s, _ in units}), "n_units": len(units), "per_loss": per_loss,
            "satisfied": all(d["enough"] for d in per_loss.values())}
