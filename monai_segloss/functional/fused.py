"""Fused label-map passes for compound losses: one walk over the logits makes what several terms read.

:func:`fuse_binary_focal`: under ``sigmoid=True`` with a label map (C > 1), the region statistics ``(tp, psum,
gsum)`` of every channel (what :func:`~monai_segloss.core.stats.confusion_stats` reads) and the sums of the binary
focal terms (what :func:`~monai_segloss.functional.focal_loss` reads) from one pass over the logits, with one
closed-form backward: the preset ``generalized_dice_focal`` (Dice statistics and focal term on the same input) then
makes no second activation, no one-hot target and no full-size temporary but the one buffer that becomes the input's
gradient. The results are left in :attr:`~monai_segloss.core.prepare.PreparedInput.fused`, which the terms of a
compound loss share (:func:`~monai_segloss.core.prepare.shared_preparation`).

Notation, per voxel v (valid), channel c, logit x, probability p = σ(x), target g = [y_v = c] (Lin et al., "Focal
loss for dense object detection", ICCV 2017, binary form): the focal term of a (voxel, channel) is
``f(z) = -σ(-z)^γ·log σ(z)`` at the signed logit ``z = (2g - 1)·x`` (``-(1-p)^γ log p`` where g = 1,
``-p^γ log(1-p)`` where g = 0), so ``pos[b, c] = Σ_{y_v = c} f(z)`` and ``neg[b, c] = Σ_{y_v ≠ c} f(z)``; with
``σ(-z)^γ = exp(γ·log σ(-z))``, ``log σ(z) = min(z, 0) - log1p(exp(-|z|))`` (the form of ``logsigmoid``). Its
derivative is ``f'(z) = σ(-z)^γ·(γ·σ(z)·log σ(z) - σ(-z))``, and ``∂f/∂x = (2g - 1)·f'(z)``. The statistics are
``tp = Σ g·p``, ``psum = Σ p``, ``gsum = Σ g``. A loss ``L(tp, psum, pos, neg)`` then has
``∂L/∂x_c = p(1-p)·(g·∂L/∂tp_c + ∂L/∂psum_c) + (2g - 1)·f'(z)·(∂L/∂pos_c if g else ∂L/∂neg_c)``, 0 at invalid
voxels. The forward writes ``(2g - 1)·f'(z)`` into one buffer of the input's size; the backward recomputes p (one
sigmoid) and writes the gradient over that buffer. Both walk the input in the chunks of the statistics' fast path
(:mod:`monai_segloss.core.stats`), so every other temporary is chunk-sized.
"""

from __future__ import annotations

import torch

from ..core.prepare import PreparedInput
from ..core.stats import _chunks, _full_precision, _onehot_into, _work, _work_buffers

__all__ = ["fuse_binary_focal", "binary_focal_sums"]

_WORK = 7  # chunk-sized float buffers of one pass


def _focal_key(gamma: float) -> tuple[str, float]:
    return ("binary_focal", float(gamma))


def _focal_chunk(xc: torch.Tensor, oh: torch.Tensor, vf: torch.Tensor | None, gamma: float, work: torch.Tensor,
                 cond: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk ``(b, C, n)`` of the focal terms: returns ``(pos, neg)`` ``(b, C)`` chunk sums and writes
    ``(2g - 1)·f'(z)`` into ``out``. ``oh`` is the one-hot (0 at invalid voxels; turned into ``2g - 1`` here),
    ``work`` holds ``_WORK - 2`` chunk buffers (flat), ``cond`` a flat bool buffer."""
    shape = xc.shape
    u, ls, r, z, s_neg = (_work(work[i], *shape) for i in range(5))
    ge0 = _work(cond, *shape)
    torch.abs(xc, out=u).neg_().exp_()  # u = exp(-|x|) = exp(-|z|)
    torch.log1p(u, out=ls)  # log1p(exp(-|z|))
    torch.add(u, 1, out=r).reciprocal_()  # σ(|z|)
    u.mul_(r)  # σ(-|z|)
    torch.mul(oh, 2, out=z).sub_(1).mul_(xc)  # z = (2g - 1)·x
    torch.ge(z, 0, out=ge0)
    torch.where(ge0, u, r, out=s_neg)  # σ(-z)
    torch.where(ge0, r, u, out=r)  # σ(z) (r is read elementwise before it is written)
    lpos = torch.clamp(z, max=0, out=u).sub_(ls)  # log σ(z)
    lneg = z.clamp_(min=0).neg_().sub_(ls)  # log σ(-z)
    if gamma == 0:
        term = torch.neg(lpos, out=ls)  # f = -log σ(z)
        torch.neg(s_neg, out=out)  # f' = -σ(-z)
    else:
        fac = lneg.mul_(gamma).exp_()  # σ(-z)^γ = exp(γ·log σ(-z))
        term = torch.mul(fac, lpos, out=ls).neg_()  # f = -σ(-z)^γ·log σ(z)
        torch.mul(r, lpos, out=out).mul_(gamma).sub_(s_neg).mul_(fac)  # f'
    on = torch.mul(term, oh, out=r)
    pos = on.sum(2)
    off = term.sub_(on)  # exact: f - f where g = 1, f where g = 0
    if vf is not None:
        off.mul_(vf)
    neg = off.sum(2)
    out.mul_(oh.mul_(2).sub_(1))  # · (2g - 1)
    return pos, neg


def _forward_pass(x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, gamma: float,
                  out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(tp, psum, gsum, pos, neg)`` ``(B, C)`` of ``x`` ``(B, C, N)``; writes ``(2g - 1)·f'(z)`` into ``out``.
    Chunk sums in the input's dtype (torch's cascade sums), chunks added in float64, as the statistics' fast path."""
    b, c = x.shape[:2]
    chunks = _chunks(x.shape)
    sums = None if len(chunks) == 1 else torch.zeros(5, b, c, dtype=torch.float64, device=x.device)
    work = _work_buffers(x, _WORK)
    cond = torch.empty(work.shape[1], dtype=torch.bool, device=x.device)
    for bs, vs in chunks:
        xc, y = x[bs, :, vs], labels[bs, vs]
        shape = xc.shape
        oh = _onehot_into(y, _work(work[0], *shape), work[1])
        pc = torch.sigmoid(xc, out=_work(work[1], *shape))
        tmp = _work(work[2], *shape)
        vf = None if valid is None else valid[bs, vs].unsqueeze(1).to(x.dtype)
        if vf is not None:
            oh.mul_(vf)
        gsum = oh.sum(2)
        psum = (pc if vf is None else torch.mul(pc, vf, out=tmp)).sum(2)
        tp = torch.mul(oh, pc, out=tmp).sum(2)
        pos, neg = _focal_chunk(xc, oh, vf, gamma, work[2:], cond, out[bs, :, vs])
        if sums is None:  # a single chunk
            return tp, psum, gsum, pos, neg
        for i, t in enumerate((tp, psum, gsum, pos, neg)):
            sums[i, bs] += t
    assert sums is not None  # several chunks
    return tuple(t.clone() for t in sums.to(x.dtype).unbind(0))


class _LabelMapBinaryFocal(torch.autograd.Function):
    """``(tp, psum, gsum, pos, neg)`` ``(B, C)`` from the logits ``x`` ``(B, C, N)`` under a sigmoid and a label map
    ``(B, N)`` (module docstring); ``gsum`` is not differentiable."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, gamma: float):
        with _full_precision(x.device.type):
            buffer = torch.empty_like(x, memory_format=torch.contiguous_format)
            tp, psum, gsum, pos, neg = _forward_pass(x, labels, valid, gamma, buffer)
        ctx.mark_non_differentiable(gsum)
        ctx.save_for_backward(x, labels, valid)
        ctx.gamma = gamma
        ctx.buffer = buffer  # consumed (overwritten by dL/dx) in the first backward
        return tp, psum, gsum, pos, neg

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dtp: torch.Tensor, dpsum: torch.Tensor, _dgsum: torch.Tensor, dpos: torch.Tensor,
                 dneg: torch.Tensor):
        x, labels, valid = ctx.saved_tensors
        out = ctx.buffer
        ctx.buffer = None
        with _full_precision(x.device.type):
            if out is None:  # a retained graph's second backward: the same pass again
                out = torch.empty_like(x, memory_format=torch.contiguous_format)
                _forward_pass(x, labels, valid, ctx.gamma, out)
            dtp, dpsum, dpos, dneg = (t.to(x.dtype).unsqueeze(-1) for t in (dtp, dpsum, dpos, dneg))
            work = _work_buffers(x, 3)
            for bs, vs in _chunks(x.shape):
                xc, oc = x[bs, :, vs], out[bs, :, vs]
                shape = xc.shape
                oh = _onehot_into(labels[bs, vs], _work(work[0], *shape), work[1])
                pc = torch.sigmoid(xc, out=_work(work[1], *shape))
                h = torch.mul(oh, dtp[bs], out=_work(work[2], *shape)).add_(dpsum[bs])  # ∂L/∂p of the statistics
                h.mul_(pc).mul_(pc.neg_().add_(1))  # · p(1 - p)
                coef = torch.where(oh.bool(), dpos[bs], dneg[bs], out=oh)  # ∂L/∂pos where g = 1, ∂L/∂neg elsewhere
                oc.mul_(coef).add_(h)
                if valid is not None:
                    oc.mul_(valid[bs, vs].unsqueeze(1))
        return out, None, None, None


def fuse_binary_focal(prep: PreparedInput, gamma: float) -> None:
    """Make the region statistics of every channel and the binary focal sums of ``gamma`` in one pass (module
    docstring), for a label map under ``sigmoid=True``; a no-op for any other input, or once the statistics exist.

    Leaves ``(tp, psum, gsum)`` where :func:`~monai_segloss.core.stats.confusion_stats` reads the label-map
    statistics and ``(pos, neg)`` where :func:`binary_focal_sums` reads them."""
    if prep.labels is None or prep.options.activation != "sigmoid" or False in prep.fused:
        return
    x = prep.input.flatten(2)
    valid = None if prep.valid is None else prep.valid.flatten(1)
    tp, psum, gsum, pos, neg = _LabelMapBinaryFocal.apply(x, prep.label_map().flatten(1), valid, float(gamma))
    prep.fused[False] = (tp, psum, gsum)
    prep.fused[_focal_key(gamma)] = (pos, neg)


def binary_focal_sums(prep: PreparedInput, gamma: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(pos, neg)`` ``(B, C)``: the sums of the binary focal terms of every channel over its target voxels and over
    its other valid voxels, when :func:`fuse_binary_focal` made them for this input and ``gamma``; else None."""
    return prep.fused.get(_focal_key(gamma))
