"""Spacing-aware Euclidean distance maps of binary masks, batched over samples and channels with SimpleITK.

Every geometry loss reads its distances from one function, :func:`signed_distance`. For a binary mask ``m`` with
spacing ``s`` (millimetres per voxel along each spatial axis) it returns the *signed Euclidean distance transform*

    ``sdt(v) = +min_{u in m} |v - u|_s``  for ``v`` outside ``m`` (distance to the nearest foreground voxel),
    ``sdt(v) = -min_{u not in m} |v - u|_s``  for ``v`` inside ``m`` (distance to the nearest background voxel),

with ``|d|_s = sqrt(Σ_k (s_k d_k)²)``, i.e. the values of ``scipy.ndimage.distance_transform_edt(~m, sampling=s)``
outside and ``-distance_transform_edt(m, sampling=s)`` inside. ``|sdt|`` is the distance of each voxel to the nearest
voxel of the other class (the field of Karimi 2019 / ``monai.losses.HausdorffDTLoss``). A mask that is empty or fills
the whole image has no boundary, so neither distance exists: its map is 0 everywhere (MONAI's convention).

How it is computed (every way is exact): the outside part by one SimpleITK ``SignedMaurerDistanceMap`` over the
image (its positive values are exact Euclidean distances to the nearest foreground voxel); the inside part by more
of them on the complement, restricted to boxes around the foreground: the foreground is split along empty slabs into
tight boxes whose one-voxel ring holds no foreground, so the nearest background voxel of a voxel in a box lies in
the box grown by one voxel; for lesions this costs little. The masks of a batch run concurrently in a thread pool
(SimpleITK releases the GIL), each filter with its share of SimpleITK's threads. A mask equal to, or the complement
of, another mask of the same call reuses that map (``sdt(~m) = -sdt(m)``), so the two channels of a binary softmax
output cost one transform. Two cases avoid SimpleITK: a noise-like mask (a random-logit prediction, where most voxels
touch the other class) is solved by searching the nearest voxel of the other class over offsets sorted by length
(whole-image shifts first, then the few remaining voxels), falling back to SimpleITK when that search would go
beyond 4 voxels; and an image of at most 1024 voxels is solved by comparing all voxel pairs, cheaper there than a
SimpleITK pipeline.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from ..core import checks

__all__ = ["KINDS", "signed_distance", "resolve_spacing", "spacing_from_affine", "default_num_threads"]

Spacing = tuple[float, ...]


def default_num_threads() -> int:
    """SimpleITK's global default number of threads (``sitk.ProcessObject.SetGlobalDefaultNumberOfThreads``)."""
    return max(1, int(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()))


def spacing_from_affine(affine: torch.Tensor | np.ndarray, ndim: int) -> Spacing:
    """Voxel spacing (column norms of the rotation-scaling block) of a ``(ndim+1, ndim+1)`` or larger affine."""
    a = np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < ndim + 1 or a.shape[1] < ndim + 1:
        raise ValueError(f"affine must be a square matrix of size >= {ndim + 1}, got shape {a.shape}")
    return tuple(float(v) for v in np.sqrt((a[:ndim, :ndim] ** 2).sum(axis=0)))


def _meta_spacings(x: Any, batch: int, ndim: int) -> list[Spacing] | None:
    """Per-sample spacing of a batched MONAI ``MetaTensor`` (from its affine), or None for a plain tensor."""
    affine = getattr(x, "affine", None)
    if affine is None or not isinstance(affine, torch.Tensor):
        return None
    if affine.ndim == 3:
        if affine.shape[0] != batch:
            return None
        return [spacing_from_affine(a, ndim) for a in affine]
    return [spacing_from_affine(affine, ndim)] * batch


def resolve_spacing(spacing: float | Sequence[float] | None, batch: int, ndim: int, *carriers: Any) -> list[Spacing]:
    """The spacing of each sample: ``spacing`` when given (one value per spatial dim, or one for all), else read from
    the affine of the first ``carriers`` entry that is a MONAI ``MetaTensor`` (per sample when batched), else 1 mm.
    """
    sp = checks.spacing("spacing", spacing, ndim)
    if sp is not None:
        return [sp] * batch
    for carrier in carriers:
        found = _meta_spacings(carrier, batch, ndim)
        if found is not None:
            return found
    return [(1.0,) * ndim] * batch


# ------------------------------------------------------------------------------------------------ SimpleITK kernel

def _maurer_outside(mask: np.ndarray, spacing: Spacing, threads: int, out: np.ndarray | None = None) -> np.ndarray:
    """Exact Euclidean distance (mm) of every voxel to the nearest True voxel of ``mask`` (valid where mask is False).

    ``mask`` is a 2D or 3D bool array with at least one True voxel. Written into ``out`` (float32) when given.
    """
    img = sitk.GetImageFromArray(mask.view(np.uint8))
    img.SetSpacing(tuple(reversed(spacing)))  # SimpleITK orders axes x, y, z: the reverse of numpy's
    f = sitk.SignedMaurerDistanceMapImageFilter()
    f.SetInsideIsPositive(False)
    f.SetSquaredDistance(False)
    f.SetUseImageSpacing(True)
    f.SetBackgroundValue(0)
    f.SetNumberOfThreads(threads)
    result = f.Execute(img)
    if out is None:
        return sitk.GetArrayFromImage(result)
    np.copyto(out, sitk.GetArrayViewFromImage(result))
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, stop)`` of True in a 1-D bool array."""
    d = np.diff(np.concatenate(([False], flags, [False])).astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _foreground_boxes(mask: np.ndarray) -> list[tuple[slice, ...]]:
    """Tight boxes covering the foreground, split along empty slabs, such that the one-voxel ring around each box
    holds no foreground voxel (so the nearest background voxel of a voxel in a box lies in the box grown by one)."""
    todo = [tuple(slice(0, n) for n in mask.shape)]
    done: list[tuple[slice, ...]] = []
    while todo:
        box = todo.pop()
        sub = mask[box]
        runs_per_axis = []
        split = False
        for axis in range(mask.ndim):
            other = tuple(a for a in range(mask.ndim) if a != axis)
            runs = _runs(np.asarray(sub.any(axis=other)) if other else sub)
            if len(runs) > 1:
                base = box[axis].start
                for a, b in runs:
                    todo.append(box[:axis] + (slice(base + a, base + b),) + box[axis + 1:])
                split = True
                break
            runs_per_axis.append(runs[0])
        if not split:
            done.append(tuple(slice(bx.start + a, bx.start + b) for bx, (a, b) in zip(box, runs_per_axis, strict=True)))
    return done


def _grow(box: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(b.start - 1, 0), min(b.stop + 1, n)) for b, n in zip(box, shape, strict=True))


def _offsets(spacing: Spacing, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets ``(M, ndim)`` with physical length in (0, radius], sorted by length, and their lengths."""
    ranges = [np.arange(-int(radius // s), int(radius // s) + 1) for s in spacing]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, len(spacing))
    length = np.sqrt(((grid * np.asarray(spacing)) ** 2).sum(1))
    keep = (length > 0) & (length <= radius + 1e-9)
    order = np.argsort(length[keep], kind="stable")
    return grid[keep][order], length[keep][order]


def _shifted(shape: tuple[int, ...], off: np.ndarray) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Slices ``(src, dst)`` with ``dst = src + off`` inside the image; None when no voxel has its shift inside."""
    if any(abs(o) >= n for o, n in zip(off.tolist(), shape, strict=True)):
        return None
    src = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(off.tolist(), shape, strict=True))
    dst = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(off.tolist(), shape, strict=True))
    return src, dst


def _signed_dense(mask: np.ndarray, spacing: Spacing, radius: float) -> np.ndarray | None:
    """Signed EDT of a mask whose boundary is dense (noise-like predictions), by an exact search of the nearest
    opposite voxel over offsets sorted by length: whole-image shifts while many voxels are unresolved, then per voxel.
    Returns None when a voxel has no opposite voxel within ``radius`` mm (the caller then uses Maurer)."""
    shape = mask.shape
    offsets, lengths = _offsets(spacing, radius)
    dist = np.zeros(shape, dtype=np.float32)
    resolved = np.zeros(shape, dtype=bool)
    n = mask.size
    i = 0
    # dense stage: whole-image shifts, one group of equal lengths at a time
    while i < len(offsets) and (n - np.count_nonzero(resolved)) > n // 20:
        j = i
        hit = np.zeros(shape, dtype=bool)
        while j < len(offsets) and abs(lengths[j] - lengths[i]) <= 1e-9:
            pair = _shifted(shape, offsets[j])
            if pair is not None:
                hit[pair[0]] |= mask[pair[0]] != mask[pair[1]]
            j += 1
        new = hit & ~resolved
        dist[new] = lengths[i]
        resolved |= new
        i = j
    # sparse stage: the remaining voxels, one offset at a time
    todo = np.flatnonzero(~resolved.ravel())
    coords = np.stack(np.unravel_index(todo, shape), 1) if todo.size else np.zeros((0, mask.ndim), np.int64)
    own = mask.ravel()[todo]
    flat_dist = dist.ravel()
    dims = np.asarray(shape)
    while todo.size and i < len(offsets):
        j = i
        found = np.zeros(todo.size, dtype=bool)
        while j < len(offsets) and abs(lengths[j] - lengths[i]) <= 1e-9:
            q = coords + offsets[j]
            inside = ((q >= 0) & (q < dims)).all(1)
            qi = np.ravel_multi_index(tuple(np.where(inside[:, None], q, 0).T), shape)
            found |= inside & (mask.ravel()[qi] != own)
            j += 1
        flat_dist[todo[found]] = lengths[i]
        keep = ~found
        todo, coords, own = todo[keep], coords[keep], own[keep]
        i = j
    if todo.size:
        return None
    return np.where(mask, -dist, dist)


_BRUTE_MAX_VOXELS = 1024  # images this small are solved exactly by comparing every pair of voxels


def _signed_brute(mask: np.ndarray, spacing: Spacing) -> np.ndarray:
    """Signed EDT of a tiny non-trivial mask from all (background, foreground) voxel pairs: exact, and cheaper
    than a SimpleITK pipeline on images of a few hundred voxels."""
    coords = np.indices(mask.shape).reshape(mask.ndim, -1).T * np.asarray(spacing)
    flat = mask.ravel()
    fg, bg = coords[flat], coords[~flat]
    d2 = ((bg[:, None, :] - fg[None, :, :]) ** 2).sum(-1)  # (n_bg, n_fg)
    out = np.empty(mask.size, dtype=np.float64)
    out[~flat] = np.sqrt(d2.min(1))
    out[flat] = -np.sqrt(d2.min(0))
    return out.reshape(mask.shape).astype(np.float32)


def _inside_distances(mask: np.ndarray, spacing: Spacing, threads: int) -> list[tuple[tuple[slice, ...], np.ndarray,
                                                                                   np.ndarray]]:
    """Distance (mm) of each foreground voxel to the nearest background voxel, as ``(crop, sub-mask, distances)``
    per foreground box grown by one voxel. The crops are packed along the first axis into one image, surrounded by
    foreground (which adds no background). Two crops may touch when the facing end layers of both are background
    (a crop's own end layer is then nearer to its voxels than anything beyond it); otherwise foreground separates
    them, thicker than any crop's diagonal, so no crop sees another's background."""
    crops = [_grow(box, mask.shape) for box in _foreground_boxes(mask)]
    subs = [mask[c] for c in crops]
    sp = np.asarray(spacing)
    diag = max(float(np.sqrt(((np.asarray(sub.shape) * sp) ** 2).sum())) for sub in subs)
    wide = int(math.ceil(diag / sp[0])) + 1
    gaps = [0 if not (a[-1].any() or b[0].any()) else wide for a, b in zip(subs[:-1], subs[1:], strict=True)]
    other = [max(sub.shape[d] for sub in subs) for d in range(1, mask.ndim)]
    starts = np.cumsum([0] + [sub.shape[0] + gap for sub, gap in zip(subs[:-1], gaps, strict=True)]).tolist()
    canvas = np.zeros((starts[-1] + subs[-1].shape[0], *other), dtype=bool)  # False = foreground of ~canvas below
    at = [(slice(start, start + sub.shape[0]), *(slice(0, n) for n in sub.shape[1:])) for start, sub in
          zip(starts, subs, strict=True)]
    for box, sub in zip(at, subs, strict=True):
        canvas[box] = ~sub
    if not canvas.any():  # no background anywhere: only a full mask, excluded by the caller
        raise RuntimeError("internal error: foreground boxes without background")
    dist = _maurer_outside(canvas, spacing, threads)  # at foreground voxels: distance to the nearest background
    return [(crop, sub, dist[box]) for crop, sub, box in zip(crops, subs, at, strict=True)]


def _signed_one(mask: np.ndarray, spacing: Spacing, threads: int, out: np.ndarray, kind: str = "signed",
                delta: float | None = None) -> None:
    """Distance map of one 2D/3D bool mask (see the module docstring) written into ``out`` (float32, zeros on
    entry): ``kind`` ``"signed"``, ``"unsigned"`` or ``"level_set"`` (inner offset ``delta``, default the smallest
    spacing); 0 for an empty or full mask."""
    n_fg = int(np.count_nonzero(mask))
    if n_fg == 0 or n_fg == mask.size:
        return
    delta = min(spacing) if delta is None else delta
    res = None
    if mask.size <= _BRUTE_MAX_VOXELS:
        res = _signed_brute(mask, spacing)
    elif 0.1 * mask.size < n_fg < 0.9 * mask.size:  # (a mask with fewer voxels of one class is never noise-like)
        # a noise-like mask (most voxels next to the other class along one axis) is solved by a local search
        first = int(np.argmin(spacing))
        pair = _shifted(mask.shape, np.eye(mask.ndim, dtype=np.int64)[first])
        if pair is not None and np.count_nonzero(mask[pair[0]] != mask[pair[1]]) > 0.2 * mask.size:
            res = _signed_dense(mask, spacing, radius=4.0 * max(spacing))
    if res is not None:
        if kind == "unsigned":
            np.abs(res, out=out)
        else:
            np.copyto(out, res)
            if kind == "level_set":
                np.add(out, delta, out=out, where=mask)
        return
    _maurer_outside(mask, spacing, threads, out=out)  # > 0 outside: distance to the nearest foreground voxel
    for crop, sub, inside in _inside_distances(mask, spacing, threads):
        if kind == "unsigned":
            np.copyto(out[crop], inside, where=sub)
        elif kind == "signed":
            np.copyto(out[crop], -inside, where=sub)
        else:
            np.copyto(out[crop], delta - inside, where=sub)


_PARALLEL_MIN_VOXELS = 1 << 16  # below this many voxels in a call, masks are processed in the calling thread
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0


def _forget_pool_after_fork() -> None:
    """A forked child (e.g. a DataLoader worker) inherits the pool object but not its threads: start afresh."""
    global _POOL, _POOL_SIZE
    _POOL, _POOL_SIZE = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE < workers:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segloss-edt")
        _POOL_SIZE = workers
    return _POOL


def _reuse_plan(flat: np.ndarray) -> list[tuple[int, int]]:
    """For each mask of ``flat`` ``(N, V)`` bool: ``(source index, sign)``; sign 0 means compute it, +1/-1 means
    copy (negate) the map of another mask equal to (the complement of) this one. Of a complementary pair, the mask
    with less foreground is computed (its inside part is the cheaper one)."""
    n, size = flat.shape
    counts = np.count_nonzero(flat, axis=1).tolist()
    plan: list[tuple[int, int]] = [(j, 0) for j in range(n)]
    computed: list[int] = []
    for j in sorted(range(n), key=lambda k: counts[k]):
        for i in computed:
            if counts[i] == counts[j] and np.array_equal(flat[i], flat[j]):
                plan[j] = (i, 1)
                break
            if counts[i] == size - counts[j] and not np.logical_and(flat[i], flat[j]).any():
                plan[j] = (i, -1)
                break
        else:
            computed.append(j)
    return plan


KINDS = ("signed", "unsigned", "level_set")


def signed_distance(masks: torch.Tensor, spacing: Sequence[Spacing] | Spacing | None = None,
                    num_threads: int | None = None, kind: str = "signed") -> torch.Tensor:
    """Euclidean distance maps (mm) of a stack of binary masks, computed with SimpleITK.

    Args:
        masks: ``(N, *S)`` masks (bool, or anything where nonzero means foreground), 1 to 3 spatial dims, any device.
        spacing: one spacing tuple for all masks, or a sequence of N tuples (one per mask), each with one positive
            value per spatial dim (mm per voxel). Default None: 1 mm.
        num_threads: threads shared by the masks (concurrent masks, then SimpleITK threads per filter). Default
            None: SimpleITK's global default.
        kind: ``"signed"`` (default) the signed EDT ``sdt``; ``"unsigned"`` ``|sdt|``, the distance to the nearest
            voxel of the other class; ``"level_set"`` the boundary-loss map ``φ = sdt + δ·[inside]``, δ the smallest
            spacing, so the innermost foreground layer is 0 (Kervadec 2019; MONAI ``BoundaryLoss`` with 1 mm).

    Returns:
        ``(N, *S)`` float32 on the masks' device. ``sdt`` is positive outside (distance to the nearest foreground
        voxel) and negative inside (minus the distance to the nearest background voxel): it equals SciPy's
        ``distance_transform_edt(~m, sampling) - distance_transform_edt(m, sampling)``. Every kind is 0 everywhere
        for an empty or full mask.
    """
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
    if not 2 <= masks.ndim <= 4:
        raise ValueError(f"masks must have shape (N, *S) with 1 to 3 spatial dims, got {tuple(masks.shape)}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n, shape = masks.shape[0], tuple(masks.shape[1:])
    ndim = len(shape)
    if spacing is None or (len(spacing) > 0 and not isinstance(spacing[0], (Sequence, torch.Tensor, np.ndarray))):
        spacings = [checks.spacing("spacing", spacing, ndim) or (1.0,) * ndim] * n
    else:
        if len(spacing) != n:
            raise ValueError(f"spacing must be one tuple or one per mask ({n}), got {len(spacing)}")
        spacings = [checks.spacing("spacing", s, ndim) or (1.0,) * ndim for s in spacing]
    deltas = [min(s) for s in spacings]
    device = masks.device
    m = masks.detach().to("cpu")
    m = (m if m.dtype == torch.bool else m != 0).contiguous()  # one copy here, not one per mask below
    out = torch.zeros((n, *shape), dtype=torch.float32)
    if n == 0 or m.numel() == 0:
        return out.to(device)
    arr = m.numpy()
    plan = _reuse_plan(arr.reshape(n, -1))
    # SimpleITK has no 1D images: a line is a (1, L) image
    img = arr[:, None, :] if ndim == 1 else arr
    img_spacings = [(1.0, *s) for s in spacings] if ndim == 1 else spacings
    todo = [j for j, (_, sign) in enumerate(plan) if sign == 0]
    threads = num_threads or default_num_threads()
    workers = max(1, min(threads, len(todo), os.cpu_count() or 1))
    if arr[0].size * len(todo) < _PARALLEL_MIN_VOXELS:  # small work: thread hand-offs would cost more than it
        workers = 1
    per_filter = max(1, threads // workers) if arr[0].size >= _PARALLEL_MIN_VOXELS else 1
    out_np = out.numpy()

    def work(j: int) -> None:
        _signed_one(np.ascontiguousarray(img[j]), img_spacings[j], per_filter, out_np[j].reshape(img[j].shape),
                    kind, deltas[j])

    if workers == 1:
        for j in todo:
            work(j)
    else:
        list(_pool(workers).map(work, todo))
    size = arr[0].size
    for j, (i, sign) in enumerate(plan):
        if sign == 1 or (sign == -1 and kind == "unsigned"):
            out_np[j] = out_np[i]
        elif sign == -1 and kind == "signed":
            np.negative(out_np[i], out=out_np[j])
        elif sign == -1 and 0 < np.count_nonzero(arr[i]) < size:  # level set of the complement: δ - φ
            np.subtract(deltas[j], out_np[i], out=out_np[j])
    return out.to(device)
