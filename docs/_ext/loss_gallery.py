"""The loss gallery: for every registry key, how the loss weighs a lesion voxel against a background voxel, and a
voxel of a small lesion against one of a large lesion, computed by the loss itself (``make docs`` draws them).

Binary setting. A loss that takes one channel gets one logit channel with ``sigmoid=True``; a loss that needs two
channels (the softmax cross-entropy family, NACL, the Wasserstein Dice) gets the logits ``(0, z)`` with
``softmax=True, to_onehot_y=True``, so that the lesion probability is ``σ(z)`` in both. The gradient with respect to
the predicted probability ``p`` of a voxel is ``dL/dz / (p (1 - p))`` (chain rule through the activation).

- **Curves** (:func:`voxel_curves`): a 16³ volume with one 3×3×3 lesion, every lesion voxel predicted 0.8 and every
  background voxel 0.1; one voxel's probability ``p`` runs from 0.02 to 0.98 (the lesion's centre voxel, or a
  background voxel far from it) while the others stay fixed. For a region loss the curve is the loss of the whole
  volume as that one voxel changes, and its gradient at that voxel.
- **Small against large** (:func:`lesion_weights`): a 32³ volume with a lesion of 10 voxels and one of 1,000 voxels
  (10×10×10), every lesion voxel predicted 0.3 and every background voxel 0.05; the bars are the mean ``|dL/dp|`` per
  voxel of each lesion (the weight the loss puts on one voxel of that lesion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import monai_segloss as M

__all__ = ["CURVE_SETTING", "LESION_SETTING", "Setup", "setup_for", "voxel_curves", "lesion_weights", "draw_key",
           "draw_summary", "draw_all", "REGION_KEYS"]

CURVE_SETTING = ("16³ volume, one 3×3×3 lesion; lesion voxels predicted 0.8, background 0.1; one voxel's probability "
                 "p varies (the lesion's centre, or a far background voxel), every other voxel fixed")
LESION_SETTING = ("32³ volume, a 10-voxel and a 1,000-voxel lesion; lesion voxels predicted 0.3, background 0.05; "
                  "mean absolute dL/dp per voxel of each lesion")
REGION_KEYS = ("dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
               "sensitivity_specificity", "mcc", "wasserstein_dice", "lovasz")
NOTES = {  # what a figure shows that the common caption does not explain
    "hausdorff_dt": "The prediction's distance map is computed from p > 0.5 (no gradient flows through it), so the "
                    "curves jump where the voxel's p crosses 0.5.",
    "log_hausdorff_dt": "The prediction's distance map is computed from p > 0.5 (no gradient flows through it), so "
                        "the curves jump where the voxel's p crosses 0.5.",
    "boundary": "The 10-voxel lesion is one voxel thick: every voxel lies on its boundary, where the signed distance "
                "is 0, so the loss puts no weight on it (ratio 0).",
    "cldice": "No gradient reaches the voxels of the 1,000-voxel cube in this setting (ratio inf).",
}
PS = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)


@dataclass(frozen=True)
class Setup:
    """How a key is called in the binary setting: its keyword arguments and the number of logit channels."""

    key: str
    kwargs: dict[str, Any]
    channels: int

    def describe(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())


_TWO_CHANNELS = {"cross_entropy", "nacl", "wasserstein_dice", "topk_ce", "dice_topk"}
_EXTRA: dict[str, dict[str, Any]] = {"wasserstein_dice": {"dist_matrix": [[0.0, 1.0], [1.0, 0.0]]}}


def setup_for(key: str) -> Setup:
    """The binary call of ``key``: one sigmoid channel, or two softmax channels where the loss needs them."""
    extra = _EXTRA.get(key, {})
    if key in _TWO_CHANNELS:
        return Setup(key, {"softmax": True, "to_onehot_y": True, **extra}, 2)
    return Setup(key, {"sigmoid": True, **extra}, 1)


def _logits(p: torch.Tensor, channels: int) -> torch.Tensor:
    z = torch.logit(p)
    return z.unsqueeze(1) if channels == 1 else torch.stack((torch.zeros_like(z), z), dim=1)


def _target(lesion: torch.Tensor, channels: int) -> torch.Tensor:
    return lesion.unsqueeze(1).to(torch.float64) if channels == 1 else lesion.unsqueeze(1).long()


def _grad_p(setup: Setup, p: torch.Tensor, lesion: torch.Tensor) -> tuple[float, torch.Tensor]:
    """The loss and dL/dp at every voxel, for probabilities ``p`` ``(1, *S)`` and a lesion mask ``(1, *S)``."""
    loss_fn = M.get_loss(setup.key, **setup.kwargs)
    z = torch.logit(p).detach().requires_grad_(True)
    x = z.unsqueeze(1) if setup.channels == 1 else torch.stack((torch.zeros_like(z), z), dim=1)
    loss = loss_fn(x, _target(lesion, setup.channels))
    (gz,) = torch.autograd.grad(loss, z)
    return float(loss.detach()), gz / (p * (1 - p))


def _volume(size: int) -> torch.Tensor:
    return torch.zeros(1, size, size, size, dtype=torch.bool)


def voxel_curves(key: str) -> dict[str, list[float]]:
    """Loss and dL/dp against one voxel's probability, for a lesion voxel and for a background voxel
    (:data:`CURVE_SETTING`)."""
    setup = setup_for(key)
    lesion = _volume(16)
    lesion[0, 7:10, 7:10, 7:10] = True
    base = torch.where(lesion, 0.8, 0.1).to(torch.float64)
    out: dict[str, list[float]] = {"p": PS.tolist()}
    for name, where in (("lesion", (0, 8, 8, 8)), ("background", (0, 2, 2, 2))):
        losses, grads = [], []
        for p in PS:
            probs = base.clone()
            probs[where] = p
            value, g = _grad_p(setup, probs, lesion)
            losses.append(value)
            grads.append(float(g[where]))
        out[f"{name}_loss"], out[f"{name}_grad"] = losses, grads
    return out


def lesion_weights(key: str) -> dict[str, float]:
    """Mean |dL/dp| per voxel of a 10-voxel and of a 1,000-voxel lesion in one volume (:data:`LESION_SETTING`)."""
    setup = setup_for(key)
    lesion = _volume(32)
    small = _volume(32)
    small[0, 4:6, 4:9, 4] = True  # 2 x 5 x 1 = 10 voxels
    large = _volume(32)
    large[0, 16:26, 16:26, 16:26] = True  # 1,000 voxels
    lesion = small | large
    probs = torch.where(lesion, 0.3, 0.05).to(torch.float64)
    _, g = _grad_p(setup, probs, lesion)
    return {"small": float(g[small].abs().mean()), "large": float(g[large].abs().mean())}


def draw_key(key: str, path: Path) -> dict[str, Any]:
    """The figure of one key (three panels), written to ``path``; returns the numbers drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves, weights = voxel_curves(key), lesion_weights(key)
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.2))
    for name, style in (("lesion", "-"), ("background", "--")):
        axes[0].plot(curves["p"], curves[f"{name}_loss"], style, label=f"{name} voxel")
        axes[1].plot(curves["p"], curves[f"{name}_grad"], style, label=f"{name} voxel")
    axes[0].set(xlabel="predicted probability p of the voxel", ylabel="loss of the volume", title="loss")
    axes[1].set(xlabel="predicted probability p of the voxel", ylabel="dL/dp at the voxel", title="gradient")
    axes[1].axhline(0.0, color="grey", lw=0.5)
    for ax in axes[:2]:
        ax.legend(fontsize=8)
    bars = [weights["small"], weights["large"]]
    axes[2].bar(["10-voxel lesion", "1,000-voxel lesion"], bars, color=["tab:red", "tab:blue"])
    ratio = weights["small"] / weights["large"] if weights["large"] > 0 else math.inf
    axes[2].set(ylabel="mean |dL/dp| per lesion voxel", title=f"small vs large lesion (ratio {ratio:.3g})")
    fig.suptitle(f"{key}  ({setup_for(key).describe()})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return {"curves": curves, "weights": weights}


def draw_summary(numbers: dict[str, dict[str, Any]], path: Path) -> None:
    """Every region loss on one axis (its gradient magnitude at the lesion voxel, log scale), and every loss's ratio
    of the per-voxel weight of the 10-voxel lesion to that of the 1,000-voxel lesion (region losses in blue)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.6), gridspec_kw={"width_ratios": [1.1, 1]})
    for key in [k for k in REGION_KEYS if k in numbers]:
        c = numbers[key]["curves"]
        axes[0].plot(c["p"], [abs(g) for g in c["lesion_grad"]], label=key)
    axes[0].set(xlabel="predicted probability p of the lesion voxel", ylabel="|dL/dp| at the voxel (log)",
                title="region losses: gradient at one lesion voxel", yscale="log")
    axes[0].legend(fontsize=7, ncol=2)
    keys = sorted(numbers, key=lambda k: (k not in REGION_KEYS, k))
    ratios, labels = [], []
    for key in keys:
        small, large = numbers[key]["weights"]["small"], numbers[key]["weights"]["large"]
        ratio = small / large if large > 0 else math.inf
        labels.append(key)
        ratios.append(ratio)
    finite = [r for r in ratios if 0 < r < math.inf]
    lo, hi = min(finite + [1.0]) / 3, max(finite + [1.0]) * 3
    shown = [min(max(r, lo), hi) for r in ratios]
    colors = ["tab:blue" if k in REGION_KEYS else "tab:grey" for k in keys]
    axes[1].barh(labels, shown, color=colors)
    for i, r in enumerate(ratios):
        if r == 0 or r == math.inf:
            axes[1].text(lo * 1.05, i, " 0 (no weight on the small lesion)" if r == 0 else " inf (none on the large)",
                         va="center", fontsize=7)
    axes[1].axvline(1.0, color="black", lw=0.6)
    axes[1].invert_yaxis()
    axes[1].tick_params(axis="y", labelsize=7)
    axes[1].set(xscale="log", xlim=(lo, hi), xlabel="per-voxel weight: 10-voxel lesion / 1,000-voxel lesion (log)",
                title="small against large lesion (region losses in blue)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def draw_all(out: Path) -> dict[str, dict[str, Any]]:
    """One figure per registry key (``out/<key>.png``) and the region summary (``out/region_summary.png``)."""
    numbers = {key: draw_key(key, out / f"{key}.png") for key in M.available_losses()}
    draw_summary(numbers, out / "region_summary.png")
    return numbers
