"""Stage 4: class weights, the empty-target policy and the reduction, written once for every loss."""

from __future__ import annotations

import torch

__all__ = ["reduce_units", "reduce_voxels", "safe_ratio", "valid_voxel_count", "voxel_count"]


def safe_ratio(num: torch.Tensor, den: torch.Tensor, at_zero: float = 1.0, nonzero: bool = False) -> torch.Tensor:
    """``num / den``, and ``at_zero`` where ``den == 0`` (with a zero, never NaN, gradient there).

    ``nonzero``: the caller knows ``den > 0`` (a sum of non-negative statistics plus a positive smoothing term): a
    plain division, two ops instead of seven per call (and per backward).
    """
    if nonzero:
        return num / den
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.full_like(num, at_zero))


def reduce_units(loss: torch.Tensor, reduction: str, *, weight: torch.Tensor | None = None,
                 present: torch.Tensor | None = None, empty: torch.Tensor | None = None, policy: str = "smooth",
                 empty_value: torch.Tensor | None = None) -> torch.Tensor:
    """Weight and reduce per-unit losses (a unit is a (sample, class), a class with ``batch``, or a sample).

    Args:
        loss: per-unit losses, e.g. ``(B, K)``.
        reduction: ``"mean"`` (mean over the units that count), ``"sum"`` or ``"none"`` (``loss``'s shape, with 0
            for units that do not count).
        weight: ``(K,)`` class weights, broadcast over the last dim; the weighted mean is ``Σ w·f / #units``, as
            in MONAI.
        present: bool, units with at least one valid voxel; the others never count. None: every unit.
        empty: bool, units with no target voxel.
        policy: the ``empty`` option: ``"skip"`` leaves the empty units out; ``"smooth"`` and ``"fp"`` keep them.
        empty_value: what an empty unit scores in place of ``loss`` (its false-positive rate under ``"fp"``, the
            unsmoothed score under ``"smooth"`` with ``smooth_dr=0``), or None to keep ``loss``.
    """
    if empty_value is not None and empty is not None:
        loss = torch.where(empty, empty_value, loss)
    counts = present
    if policy == "skip" and empty is not None:
        counts = ~empty if counts is None else counts & ~empty
    if weight is not None:
        loss = loss * weight
    if counts is not None:
        loss = torch.where(counts, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if counts is None:  # every unit counts
        return loss.sum() / loss.numel()
    return loss.sum() / counts.sum().clamp_min(1)


def reduce_voxels(loss: torch.Tensor, reduction: str, valid: torch.Tensor | None = None,
                  count: torch.Tensor | None = None, static: dict | None = None) -> torch.Tensor:
    """Reduce a voxel-wise loss ``(B, K, *S)`` over the valid voxels.

    Args:
        loss: per-voxel, per-channel losses, already zero at invalid voxels.
        reduction: ``"mean"`` (sum over the valid elements divided by their number, or by ``count`` when given),
            ``"sum"`` or ``"none"`` (``loss`` itself).
        valid: ``(B, *S)`` bool validity, None when every voxel counts.
        count: the divisor of the mean, overriding the number of valid elements.
        static: the prepared input's :attr:`~monai_segloss.core.prepare.PreparedInput.static`: without ``valid``
            and ``count`` the divisor is a constant of the input signature, made there once.
    """
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if count is None:
        if valid is None and static is not None:
            key = ("voxel_count", loss.shape[1], loss.dtype)
            divisor = static.get(key)
            if divisor is None:
                divisor = static[key] = voxel_count(loss, None).clamp_min(1)
            return total / divisor
        count = voxel_count(loss, valid)
    return total / count.clamp_min(1)


def valid_voxel_count(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """The number of counted voxels of ``x`` ``(B, K, *S)`` (channels not multiplied in): ``B·|S|``, or the valid
    voxels of ``valid`` ``(B, *S)``; a 0-d tensor in ``x``'s dtype."""
    if valid is None:
        return torch.full((), float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
    return valid.sum().to(x.dtype)


def voxel_count(loss: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """The divisor of a voxel-wise mean of ``loss`` ``(B, K, *S)``: its size, or the valid voxels times K."""
    return valid_voxel_count(loss, valid) * loss.shape[1]
