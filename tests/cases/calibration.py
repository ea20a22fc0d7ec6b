"""Promise-harness cases of the calibration loss (NACL). Its minimum is not at a perfect (saturated) prediction:
the penalty keeps the logits near the neighbourhood proportions."""

from __future__ import annotations

from . import Case

SOFT_LABEL = {"softmax": True, "to_onehot_y": True}

CASES: dict[str, list[Case]] = {
    "nacl": [
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3, minimum=None),
        Case({"softmax": True, "kernel_ops": "gaussian", "sigma": 0.8, "distance_type": "l2"}, mode="multiclass",
             target="onehot", channels=3, minimum=None, name="gaussian-l2"),
        Case({"softmax": True}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case({**SOFT_LABEL, "include_background": False, "weight": [1.0, 2.0], "reduction": "none",
              "kernel_size": 5}, mode="multiclass", target="label", channels=3, minimum=None, name="nobg-weight-none"),
        Case({**SOFT_LABEL, "reduction": "sum", "alpha": 0.5}, mode="multiclass", target="label", channels=2,
             minimum=None, name="sum"),
    ],
}
