"""Promise-harness cases of the geometry losses (issue 4): distance-map losses with on-the-fly and precomputed maps
(``SignedDistanceMapd``), anisotropic spacing, and the blob loss with on-the-fly and precomputed lesion instances
(``LesionInstancesd``)."""

from __future__ import annotations

import torch

from monai_segloss.geometry.transforms import LesionInstancesd, SignedDistanceMapd

from . import Case

SIG = {"sigmoid": True}
SOFT_LABEL = {"softmax": True, "to_onehot_y": True}


def _per_sample(transform, key_out: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Run a dictionary transform on each sample of ``target`` and stack the outputs."""
    return torch.stack([transform({"label": t})[f"label_{key_out}"] for t in target]).to(x.device)


def _distance(num_classes: int | None = None, spacing=None):
    def extra(x: torch.Tensor, target: torch.Tensor) -> dict:
        sdm = SignedDistanceMapd(keys="label", num_classes=num_classes, spacing=spacing)
        return {"distance": _per_sample(sdm, "dist", x, target).to(x.dtype)}

    return extra


def _instances(num_classes: int | None = None):
    def extra(x: torch.Tensor, target: torch.Tensor) -> dict:
        return {"instances": _per_sample(LesionInstancesd(keys="label", num_classes=num_classes), "instances", x,
                                         target)}

    return extra


def _distance_cases(minimum: float | None, full: bool = True, extra_cases: list[Case] | None = None) -> list[Case]:
    """Cases of a distance-map loss (``minimum``: value at a perfect hard prediction); ``full=False`` keeps the
    cases that exercise its own code paths (the input handling is shared and covered by the full lists)."""
    core = [
        Case(SIG, mode="binary", target="onehot", channels=1, minimum=minimum),
        Case(SIG, mode="multilabel", target="soft", channels=2, minimum=None),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3, minimum=minimum),
        Case({**SOFT_LABEL, "spacing": (0.8, 0.8, 3.0)}, channels=3, minimum=minimum, dims=(3,), name="aniso-3d"),
        Case(SOFT_LABEL, channels=3, minimum=minimum, extra=_distance(num_classes=3), name="precomputed"),
    ]
    more = [
        Case({**SIG, "to_onehot_y": True}, mode="binary", target="label", channels=1, minimum=minimum,
             name="binary-label"),
        Case({}, mode="binary", target="onehot", channels=1, minimum=minimum, name="binary-probs"),
        Case(SIG, mode="multilabel", target="onehot", channels=3, minimum=minimum),
        Case({"softmax": True, "include_background": False}, mode="multiclass", target="onehot", channels=3,
             minimum=minimum, name="multiclass-onehot-nobg"),
        Case({**SOFT_LABEL, "weight": [0.5, 1.0, 2.0], "reduction": "sum"}, channels=3, minimum=minimum,
             name="label-weight-sum"),
        Case({**SOFT_LABEL, "spacing": (0.8, 3.0)}, channels=3, minimum=minimum, dims=(2,), name="aniso-2d"),
        Case({**SIG, "spacing": (0.8, 0.8, 3.0)}, mode="multilabel", target="onehot", channels=2, minimum=minimum,
             extra=_distance(spacing=(0.8, 0.8, 3.0)), dims=(3,), name="precomputed-aniso"),
    ]
    return core + (more if full else []) + (extra_cases or [])


CASES: dict[str, list[Case]] = {
    "hausdorff_dt": _distance_cases(0.0, extra_cases=[Case({**SOFT_LABEL, "alpha": 1.0}, channels=3,
                                                           name="alpha1")]),
    "log_hausdorff_dt": _distance_cases(0.0, full=False, extra_cases=[
        Case({**SOFT_LABEL, "reduction": "none", "include_background": False}, channels=3, name="none-nobg"),
        Case({**SIG, "reduction": "sum", "alpha": 1.0}, mode="multilabel", target="onehot", channels=2,
             name="sum-alpha1")]),
    # the boundary loss is negative at its minimum, which depends on the target: checked in test_geometry.py
    "boundary": _distance_cases(None),
    "shape_aware": _distance_cases(0.0, full=False, extra_cases=[
        Case({"softmax": True, "include_background": False, "weight": [1.0, 2.0], "reduction": "sum"},
             mode="multiclass", target="onehot", channels=3, name="nobg-weight-sum")]),
    "distance_penalized_ce": _distance_cases(0.0, full=False, extra_cases=[
        Case({**SOFT_LABEL, "penalty": 3.0, "include_background": False}, channels=3, name="penalty3-nobg")]),
    "structural_similarity": [
        Case(SIG, mode="binary", target="onehot", channels=1),
        Case({}, mode="binary", target="onehot", channels=1, name="binary-probs"),
        Case(SIG, mode="multilabel", target="onehot", channels=3),
        Case(SIG, mode="multilabel", target="soft", channels=2, minimum=None),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3),
        Case({"softmax": True, "include_background": False, "beta": 0.0}, mode="multiclass",
             target="onehot", channels=3, name="nobg-beta0"),
        Case({**SOFT_LABEL, "weight": [0.5, 1.0, 2.0], "reduction": "sum", "kernel_size": 5}, channels=3,
             name="label-weight-sum-k5"),
    ],
    "blob": [
        Case(SIG, mode="binary", target="onehot", channels=1),
        Case({**SIG, "to_onehot_y": True}, mode="binary", target="label", channels=1, name="binary-label"),
        Case(SIG, mode="multilabel", target="soft", channels=2, minimum=None),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3),
        Case({"softmax": True, "include_background": False}, mode="multiclass", target="onehot", channels=3,
             name="multiclass-onehot-nobg"),
        # the inner region losses have their own gradchecks: these two check the plumbing only
        Case({**SOFT_LABEL, "region": "tversky", "region_kwargs": {"alpha": 0.3, "beta": 0.7},
              "weight": [0.5, 1.0, 2.0], "reduction": "none"}, channels=3, name="tversky-weight-none", gradcheck=False),
        Case({**SOFT_LABEL, "region": "focal_tversky", "fully_connected": False, "reduction": "sum"}, channels=3,
             name="focal_tversky-face-sum", gradcheck=False),
        Case(SOFT_LABEL, channels=3, extra=_instances(num_classes=3), name="precomputed"),
    ],
}
