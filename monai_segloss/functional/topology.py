"""Topology-aware losses, functional forms: prepare -> soft skeletons -> skeleton overlaps -> score -> reduce.

The soft skeleton (Shit et al., CVPR 2021) is built from soft morphology on probabilities: a soft erosion is the
minimum over the axis-aligned 3-voxel windows (a cross), a soft dilation the maximum over the 3^d cube, an opening
their composition, and the skeleton accumulates, over ``iter_`` erosions, what each opening removes. Voxels outside
the image and ignored voxels (``mask``/``ignore_index``) are outside every window: the skeleton of an image with an
ignored slab is that of the image cropped to its valid voxels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core import checks
from ..core.options import RegionOptions, option
from ..core.prepare import prepare_input
from ..core.reduce import reduce_units, safe_ratio
from .base import loss_function
from .region import REGION_RETURNS, batch_sums, unsmoothed_empty

__all__ = ["ClDiceOptions", "cldice_loss", "soft_skeleton"]

_MAX_POOL = (F.max_pool1d, F.max_pool2d, F.max_pool3d)


def _outside(x: torch.Tensor, outside: torch.Tensor | None, fill: float) -> torch.Tensor:
    return x if outside is None else x.masked_fill(outside, fill)


def _erode(x: torch.Tensor, outside: torch.Tensor | None) -> torch.Tensor:
    """Soft erosion: the minimum over the 3-voxel window along each axis (0 at ``outside`` voxels)."""
    d = x.ndim - 2
    pool = _MAX_POOL[d - 1]
    neg = -_outside(x, outside, math.inf)
    windows = (-pool(neg, tuple(3 if a == axis else 1 for a in range(d)), 1,
                     tuple(1 if a == axis else 0 for a in range(d))) for axis in range(d))
    out = next(windows)
    for m in windows:
        out = torch.minimum(out, m)
    return _outside(out, outside, 0.0)


def _dilate(x: torch.Tensor, outside: torch.Tensor | None) -> torch.Tensor:
    """Soft dilation: the maximum over the 3^d cube (0 at ``outside`` voxels)."""
    out = _MAX_POOL[x.ndim - 3](_outside(x, outside, -math.inf), 3, 1, 1)
    return _outside(out, outside, 0.0)


def soft_skeleton(x: torch.Tensor, iterations: int, outside: torch.Tensor | None = None) -> torch.Tensor:
    """Soft skeleton of ``x`` ``(B, C, *S)`` (values in [0, 1], 1 to 3 spatial dims), Shit et al. 2021, Alg. 1:
    ``skel = relu(x - open(x))``, then ``iterations`` times ``x = erode(x)``, ``δ = relu(x - open(x))``,
    ``skel += relu(δ - skel·δ)``. ``outside`` ``(B, 1, *S)`` bool: voxels that belong to no window (0 in the
    result)."""
    skel = F.relu(x - _dilate(_erode(x, outside), outside))
    for _ in range(iterations):
        x = _erode(x, outside)
        delta = F.relu(x - _dilate(_erode(x, outside), outside))
        skel = skel + F.relu(delta - skel * delta)
    return _outside(skel, outside, 0.0)


@dataclass(frozen=True)
class ClDiceOptions(RegionOptions):
    """Options of :func:`cldice_loss`."""

    iter_: int = option(3, "iterations of the soft skeleton (erosions), about the largest radius of the structures "
                           "in voxels (MONAI's name).", checks.integer(0))
    smooth: float = option(1e-4, "ε > 0 added to the denominator of the harmonic mean Tprec + Tsens.",
                           checks.number(0, low_open=True))
    smooth_nr: float = option(1.0, "added to the numerators of Tprec and Tsens (1 as MONAI and the paper's code).",
                              checks.number(0))
    smooth_dr: float = option(1.0, "added to the denominators of Tprec and Tsens.", checks.number(0))

    def validate(self) -> None:
        super().validate()
        if self.soft_label:
            raise ValueError("soft_label does not apply to clDice: its skeleton overlaps Σ S·V are not confusion "
                             "statistics")


def _cldice(input, target, mask, o: ClDiceOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())  # 0 at invalid voxels
    outside = None if prep.valid is None else ~prep.valid.unsqueeze(1)
    v = prep.valid_float()
    pv = p if v is None else p * v
    with torch.no_grad():
        skel_g = soft_skeleton(g, o.iter_, outside)
    skel_p = soft_skeleton(pv, o.iter_, outside)
    n = torch.ones_like(p[:, :1]) if v is None else v
    sums = torch.stack([t.flatten(2).sum(2).expand(p.shape[:2]) for t in
                        (skel_p * g, skel_p, skel_g * pv, skel_g, g, pv, n)])  # (7, B, K)
    sp_g, sp, sg_p, sg, gsum, psum, count = batch_sums(sums, o, dim=1).unbind(0)
    tprec = safe_ratio(sp_g + o.smooth_nr, sp + o.smooth_dr)  # the predicted skeleton inside the target
    tsens = safe_ratio(sg_p + o.smooth_nr, sg + o.smooth_dr)  # the target skeleton inside the prediction
    loss = 1 - 2 * tprec * tsens / (tprec + tsens + o.smooth)
    if o.empty == "fp":  # the false-positive rate of a unit without target voxel
        value = safe_ratio(psum, count, 0.0)
    elif unsmoothed_empty(o):  # no smoothing to score it: 1 when anything is predicted, 0 when nothing is
        value = (psum != 0).to(loss.dtype)
    else:
        value = None
    return reduce_units(loss, o.reduction, weight=prep.weight, present=None if v is None else count > 0,
                        empty=gsum == 0, policy=o.empty, empty_value=value)


cldice_loss = loss_function(ClDiceOptions, _cldice, "cldice_loss", """
    Soft clDice loss, per (sample, class): ``1 - 2·Tprec·Tsens / (Tprec + Tsens + ε)`` with
    ``Tprec = (Σ S_P·V_L + s_nr) / (Σ S_P + s_dr)`` and ``Tsens = (Σ S_L·V_P + s_nr) / (Σ S_L + s_dr)``.

    Shit S. et al., "clDice - a novel topology-preserving loss function for tubular structure segmentation",
    CVPR 2021. V_P and V_L are the predicted probabilities and the target, S_P and S_L their soft skeletons
    (:func:`soft_skeleton`, ``iter_`` erosions); Tprec is the share of the predicted centreline inside the target,
    Tsens the share of the target centreline covered by the prediction. It rewards connected thin structures
    (vessels, airways, neurons, roads) where a volume overlap barely notices a break; the paper pairs it with a
    volume loss (:func:`~monai_segloss.functional.dice_cldice_loss`). The target's skeleton is a constant.

    ``monai.losses.SoftclDiceLoss`` pools every kept channel of a sample into one score; ours scores each (sample,
    class) like the region losses, so the two agree when one channel is kept (binary, or C = 2 without
    background; parity tested), and ``batch=True`` on one channel is the paper's code (one score for the batch).
    MONAI's defaults: ``iter_`` 3, ``smooth_nr`` = ``smooth_dr`` = 1, ε = 1e-4 (so a perfect prediction scores
    ε / (2 + ε) = 5e-5, not 0). A unit without target voxel is *empty* (with ``"smooth"``, Tsens = 1 and the
    predicted skeleton is penalised through Tprec).

    Example:
        >>> from monai_segloss.functional import cldice_loss
        >>> target = torch.zeros(1, 1, 7, 7)
        >>> target[..., 3, 1:6] = 1.0  # a thin horizontal vessel
        >>> broken = target.clone()
        >>> broken[..., 3, 3] = 0.0  # the prediction breaks it in the middle
        >>> kw = dict(smooth_nr=0.0, smooth_dr=0.0, empty="skip")  # unsmoothed
        >>> print(f"{cldice_loss(target, target, **kw):.4f}, {cldice_loss(broken, target, **kw):.4f}")
        0.0000, 0.1112
""", returns=REGION_RETURNS, none_shape="units")
