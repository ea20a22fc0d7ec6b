"""Stage 2 of the region family: soft confusion statistics per (sample, channel), or per channel over the batch.

Notation, per kept channel c and sample b over the valid voxels v (docs/ARCHITECTURE.md §2): p probability, g target,
TP = Σ p·g, FP = Σ p·(1-g), FN = Σ (1-p)·g, TN = Σ (1-p)·(1-g).

A label-map target is never turned into a one-hot tensor of a large input's size. Every region loss goes through a fast
path for it, :class:`_LabelMapStats` (and :class:`_LabelMapSquaredErrors` for the sensitivity-specificity errors):
from the raw input and the labels straight to the ``(B, C)`` statistics, with a closed-form backward that writes the
input's gradient into the buffer of the probabilities, so a forward + backward needs one buffer of the input's size
(the gradient) plus chunk-sized temporaries. Under softmax the same op also makes the log-probability at each voxel's
label when a cross-entropy or focal term of a compound loss will ask for it (:func:`label_log_probs`), so the terms
share one softmax and one backward. The path depends on the class count: two classes under softmax through
``p1 = σ(x1 - x0)`` (:func:`_binary_forward`), up to ``_ONEHOT_CHANNELS`` a chunk-sized one-hot
(:func:`_onehot_chunk_sums`, float32 cascade sums per chunk), beyond a gather and float64 ``scatter_add_`` label
sums (:func:`_label_chunk_sums`; a sequential float32 one would drift by ~1e-5 relative); chunks are summed in
float64. Inputs of up to ``_SMALL_ELEMENTS`` elements take plain autograd ops instead
(:func:`_small_label_map_stats`). No op reads a value back to the host. One-hot or soft
targets use plain autograd algebra.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .distributed import global_sum
from .prepare import PreparedInput, constant

__all__ = ["RegionStats", "confusion_stats", "class_sums", "squared_error_sums", "kept_and_batched",
           "valid_counts", "label_log_probs", "label_counts", "target_sums", "class_ids"]


def _spare_labels(labels: torch.Tensor, valid: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """``labels`` ``(b, n)`` with invalid voxels moved to the spare class ``num_classes``."""
    return labels if valid is None else labels.masked_fill(~valid, num_classes)


def _label_sums(y: torch.Tensor, values: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """``(b, C + 1)`` float64 sums of ``values`` ``(b, n)`` (counts when None) per label of ``y`` ``(b, n)`` (the
    last column collects the spare label of :func:`_spare_labels`).

    Float64 accumulation (a sequential float32 one would drift by ~1e-5 relative over a million voxels) by a
    ``scatter_add_`` along the voxels, which has a deterministic CUDA implementation. Counts on CPU are one
    ``bincount`` per sample (a CUDA ``bincount`` reads its largest value back to the host). Not differentiable; the
    callers supply the backward.
    """
    if values is None:
        if y.device.type == "cpu":
            return torch.stack([torch.bincount(row, minlength=num_classes + 1) for row in y]).to(torch.float64)
        values = torch.ones(y.shape, dtype=torch.float64, device=y.device)
    out = torch.zeros(y.shape[0], num_classes + 1, dtype=torch.float64, device=y.device)
    return out.scatter_add_(1, y, values.reshape(y.shape).to(torch.float64))


def class_sums(prep: PreparedInput, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``Σ_v f(p, g)`` over the valid voxels, per (sample, channel) for *every* channel -> ``(B, C)``, for a one-hot
    or soft target (``f`` elementwise, through autograd). Label maps have closed-form fast paths instead."""
    if prep.labels is not None:
        raise ValueError("class_sums takes a one-hot or soft target; label maps go through the fast paths")
    vals = f(prep.probs(), prep.dense_target())
    v = prep.valid_float()
    return (vals if v is None else vals * v).flatten(2).sum(2)


# ---------------------------------------------------------------- the label-map fast path
#
# For a label map y, with p = act(x) (softmax over channels, sigmoid, or x itself), the statistics are
#     tp[b, c] = Σ_v [y_v = c]·p[b, c, v],    psum[b, c] = Σ_v p[b, c, v]  (Σ p² when squared),
# over the valid voxels v, and, under softmax when asked, the log-probability of each voxel's class
#     lpt[b, v] = x[b, y_v, v] - logsumexp_c x[b, c, v]     (the cross-entropy and focal terms need nothing else).
# Their gradient reaches p as
#     h[b, c, v] = dL/dpsum[b, c]·(2p if squared else 1) + [y_v = c]·dL/dtp[b, c],
# and x through the activation in closed form:
#     softmax  dL/dx_c = p_c·(h_c - Σ_k p_k h_k) + g·([c = y] - p_c)   (g = dL/dlpt),
#     sigmoid  dL/dx_c = p_c(1 - p_c)·h_c,    none  dL/dx_c = h_c.
# Without squaring, the softmax case is p_c·(a_c - S) + [c = y]·w with a = dL/dpsum, w = p_y·dL/dtp_y + g and
# S = Σ_k p_k a_k + w: one gather, one channel dot product, one product and one scatter per voxel.
# The forward keeps only p (besides the caller's x and labels); the backward writes dL/dx into p's own buffer.
# Both walk the tensor in chunks (whole samples, or voxel ranges of one sample), so every temporary is
# chunk-sized: one buffer of the input's size in all.

_CHUNK_ELEMENTS = 1 << 20  # (b, C, n) temporaries of at most 4 MB in float32 (8 MB for per-voxel int64 or float64)
_LOOP_CHANNELS = 16  # up to this many channels, Σ_c over dim 1 is a loop of fused multiply-adds (no temporary)
_ONEHOT_CHANNELS = 8  # up to this many channels, a chunk's label sums use a one-hot chunk, not a gather/scatter
_SMALL_ELEMENTS = 1 << 18  # up to this many input elements, plain autograd ops (:func:`_small_label_map_stats`)


def _chunks(shape: torch.Size) -> list[tuple[slice, slice]]:
    """``(samples, voxels)`` slices covering a ``(B, C, N)`` tensor, each of at most about ``_CHUNK_ELEMENTS``
    elements: one chunk for a small tensor, groups of whole samples, or voxel ranges within one sample."""
    b, c, n = shape
    everything = slice(None)
    if b * c * n <= _CHUNK_ELEMENTS:
        return [(everything, everything)]
    if c * n <= _CHUNK_ELEMENTS:
        k = _CHUNK_ELEMENTS // (c * n)
        return [(slice(i, min(i + k, b)), everything) for i in range(0, b, k)]
    step = max(1, _CHUNK_ELEMENTS // c)
    return [(slice(i, i + 1), slice(j, min(j + step, n))) for i in range(b) for j in range(0, n, step)]


def _full_precision(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast off inside the fast paths (they compute in the input's dtype), entered only when it is on: making
    the context costs more than a small input's arithmetic."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _activate(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "softmax":
        return torch.softmax(x, dim=1)
    if act == "sigmoid":
        return torch.sigmoid(x)
    return x


def _softmax_into(xc: torch.Tensor, pc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Write ``softmax(xc)`` over dim 1 into ``pc``; return ``(m, s)`` ``(b, 1, n)``, the largest logit and
    ``Σ exp(x - m)`` (``logsumexp = m + log s``). Four elementwise passes: on CPU about 2x faster than
    ``torch.softmax`` over a non-last dim at C >= 14, 2x slower at C = 3 (:func:`_softmax_in_chunks`)."""
    m = xc.amax(dim=1, keepdim=True)
    torch.sub(xc, m, out=pc).exp_()
    s = pc.sum(dim=1, keepdim=True)
    pc.div_(s)
    return m, s


def _channel_dot(p: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``Σ_c p_c·a_c`` ``(b, 1, n)`` of ``p`` ``(b, C, n)`` and ``a`` ``(b, C, 1)`` or ``(b, C, n)``."""
    c = p.shape[1]
    if c > _LOOP_CHANNELS:
        return torch.bmm(a.transpose(1, 2), p) if a.shape[2] == 1 else (p * a).sum(1, keepdim=True)
    s = p[:, :1] * a[:, :1]
    for k in range(1, c):
        s.addcmul_(p[:, k:k + 1], a[:, k:k + 1])
    return s


def _stats_forward(x: torch.Tensor, p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, act: str,
                   squared: bool, lpt: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, psum, gsum)`` ``(B, C)`` float64 of ``p`` ``(B, C, N)``: ``tp`` sums ``p`` at each voxel's class
    (one gather) per class (:func:`_label_sums`), ``psum`` is a float32 cascade sum per chunk, ``gsum`` a count.
    Under softmax, ``p`` is an empty buffer the softmax of ``x`` is written into, chunk by chunk, and ``lpt``
    ``(B, 1, N)`` (when given) receives the log-probability at each voxel's class."""
    b, c = p.shape[:2]
    if _binary(act, c, squared):
        return _binary_forward(x, p, labels, valid, lpt)
    chunks = _chunks(p.shape)
    sums = None if len(chunks) == 1 else torch.zeros(3, b, c + 1, dtype=torch.float64, device=p.device)
    work = _work_buffers(p, 2) if c <= _ONEHOT_CHANNELS else None
    chunked = _softmax_in_chunks(act, c)
    for bs, vs in chunks:
        pc, y, xc = p[bs, :, vs], labels[bs, vs], x[bs, :, vs]
        lse = None  # logsumexp over the channels (b, 1, n), for the log-probability at the label
        if chunked:
            m, s = _softmax_into(xc, pc)
            lse = m.add_(s.log_()) if lpt is not None else None
        elif act == "softmax" and lpt is not None:  # the largest probability 1/Σexp(x - max) belongs to max x
            lse = xc.amax(1, keepdim=True).sub_(pc.amax(1, keepdim=True).log_())
        v = None if valid is None else valid[bs, vs]
        out = None if lpt is None else lpt[bs, :, vs]
        if c <= _ONEHOT_CHANNELS:
            assert work is not None
            tp, psum, gsum = _onehot_chunk_sums(xc, pc, y, v, squared, lse, out, work)
        else:
            tp, psum, gsum = _label_chunk_sums(xc, pc, y, v, squared, lse, out)
        if sums is None:  # a single chunk
            return tp[:, :c], psum, gsum[:, :c]
        sums[0, bs, :tp.shape[1]] += tp
        sums[1, bs, :c] += psum
        sums[2, bs, :gsum.shape[1]] += gsum
    assert sums is not None  # several chunks
    return sums[0, :, :c], sums[1, :, :c], sums[2, :, :c]


# ---------------------------------------------------------------- two classes under softmax
#
# With C = 2, softmax is a sigmoid of the logit difference: p1 = σ(z), z = x1 - x0, p0 = 1 - p1. Every statistic
# follows from three sums over the valid voxels, Σ p1, Σ [y=1]·p1 and the count of [y=1]:
#     tp1 = Σ [y=1] p1,  psum1 = Σ p1,  tp0 = n0 - (psum1 - tp1),  psum0 = n - psum1,
# the log-probability at the label is log σ(±z) (+ where y = 1), and with h_c = dL/dpsum_c + [y=c]·dL/dtp_c
#     dL/dz = p1(1 - p1)·(h1 - h0) + dL/dlpt·([y=1] - p1),   dL/dx1 = dL/dz,   dL/dx0 = -dL/dz,
# where h1 - h0 = (a1 - a0 - d0) + [y=1]·(d1 + d0) (a = dL/dpsum, d = dL/dtp). So a forward + backward evaluates
# one sigmoid per voxel (softmax: two exponentials), and no gather or scatter: elementwise passes over N, not C·N.
# p1 lives in channel 1 of the probabilities' buffer; channel 0 is scratch (the backward writes dL/dx over both).

def _binary(act: str, c: int, squared: bool) -> bool:
    """Whether the two-class softmax path serves these statistics."""
    return act == "softmax" and c == 2 and not squared


def _binary_probs_into(xc: torch.Tensor, pc: torch.Tensor) -> torch.Tensor:
    """Write ``p1 = σ(x1 - x0)`` into ``pc[:, 1]`` and return that view ``(b, n)``."""
    p1 = torch.sub(xc[:, 1], xc[:, 0], out=pc[:, 1])
    return p1.sigmoid_()


def _binary_labels(y: torch.Tensor, v: torch.Tensor | None, work: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A chunk's labels ``[y=1]`` (0 at invalid voxels) and validity as floats ``(b, n)`` in ``work[0]`` and
    ``work[1]``: the elementwise passes then mix no integer or bool tensor (a mixed-dtype op copies its operand)."""
    yf = _work(work[0], *y.shape).copy_(y)
    if v is None:
        return yf, None
    vf = _work(work[1], *v.shape).copy_(v)
    return yf.mul_(vf), vf


def _binary_forward(x: torch.Tensor, p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                    lpt: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_stats_forward` for two classes under softmax (closed forms above); labels must be 0 or 1."""
    b = p.shape[0]
    sums = torch.zeros(4, b, dtype=torch.float64, device=p.device)  # Σ p1, Σ [y=1] p1, Σ [y=1], Σ valid
    work = _work_buffers(p[:, :1], 2)
    for bs, vs in _chunks(p.shape):
        pc = p[bs, :, vs]
        yf, vf = _binary_labels(labels[bs, vs], None if valid is None else valid[bs, vs], work)
        p1, scratch = pc[:, 1], pc[:, 0]
        z = torch.sub(x[bs, 1, vs], x[bs, 0, vs], out=p1)
        if lpt is not None:  # log p_y = log σ(±z), + where y = 1
            out = lpt[bs, 0, vs]
            out.copy_(F.logsigmoid(torch.mul(yf, 2, out=scratch).sub_(1).mul_(z)))
            if vf is not None:  # 0 (a constant) at invalid voxels, like the statistics, which ignore them
                out.mul_(vf)
        p1.sigmoid_()
        sums[0, bs] += (p1 if vf is None else torch.mul(p1, vf, out=scratch)).sum(1)
        sums[1, bs] += torch.mul(yf, p1, out=scratch).sum(1)
        sums[2, bs] += yf.sum(1)  # exact: a chunk holds fewer than 2^24 voxels
        sums[3, bs] += p1.shape[1] if vf is None else vf.sum(1)
    psum1, tp1, n1, n = sums
    n0 = n - n1
    tp = torch.stack([n0 - (psum1 - tp1), tp1], 1)
    return tp, torch.stack([n - psum1, psum1], 1), torch.stack([n0, n1], 1)


def _binary_backward(p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, dtp: torch.Tensor,
                     dpsum: torch.Tensor, dlpt: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
    """:func:`_stats_backward` for two classes under softmax: ``dL/dz`` in channel 0, ``p1`` read from channel 1,
    then ``dL/dx = (-dL/dz, dL/dz)``."""
    offset = (dpsum[:, 1] - dpsum[:, 0] - dtp[:, 0]).unsqueeze(1)  # (B, 1): h1 - h0 = offset + [y=1]·step
    step = (dtp[:, 1] + dtp[:, 0]).unsqueeze(1)
    work = _work_buffers(p[:, :1], 2)
    for bs, vs in _chunks(p.shape):
        p1, dz = p[bs, 1, vs], out[bs, 0, vs]
        yf, vf = _binary_labels(labels[bs, vs], None if valid is None else valid[bs, vs], work)
        torch.mul(yf, step[bs], out=dz).add_(offset[bs]).mul_(p1)
        dz.addcmul_(dz, p1, value=-1)  # p1(1 - p1)(h1 - h0)
        if dlpt is not None:
            dz.addcmul_(dlpt[bs, 0, vs], yf.sub_(p1))
        _write_logit_pair(dz, vf, out[bs, 1, vs])
    return out


def _write_logit_pair(dz: torch.Tensor, vf: torch.Tensor | None, out1: torch.Tensor) -> None:
    """``dL/dx = (-dL/dz, dL/dz)`` of the two-class paths (``z = x1 - x0``), 0 at invalid voxels: ``dz`` is the
    channel-0 view of the gradient, ``out1`` the channel-1 view."""
    if vf is not None:
        dz.mul_(vf)
    out1.copy_(dz)
    dz.neg_()


def _log_prob_at_label(x_y: torch.Tensor, lse: torch.Tensor | None, v: torch.Tensor | None,
                       out: torch.Tensor) -> None:
    """``out = log p_y = x_y - logsumexp(x)`` ``(b, 1, n)``; 0 (a constant) at invalid voxels, like the statistics,
    which ignore them."""
    assert lse is not None
    torch.sub(x_y, lse, out=out)
    if v is not None:
        out.masked_fill_(~v.unsqueeze(1), 0)


def _label_chunk_sums(xc: torch.Tensor, pc: torch.Tensor, y: torch.Tensor, v: torch.Tensor | None, squared: bool,
                      lse: torch.Tensor | None,
                      lpt: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp (b, C+1), psum (b, C), gsum (b, C+1))`` of one chunk by a gather at each voxel's class and float64
    label sums (:func:`_label_sums`; the last column is the spare label of invalid voxels); ``lpt`` (softmax,
    when given) receives the log-probability at the label."""
    c = pc.shape[1]
    yi = y.unsqueeze(1)
    if lpt is not None:
        _log_prob_at_label(xc.gather(1, yi), lse, v, lpt)
    spare = _spare_labels(y, v, c)
    q = pc * pc if squared else pc
    psum = (q if v is None else q * v.unsqueeze(1)).sum(2)
    return _label_sums(spare, pc.gather(1, yi), c), psum, _label_sums(spare, None, c)


def _work_buffers(p: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` flat work buffers ``(count, largest chunk)`` of ``p``'s dtype, for every chunk of one call to reuse
    (:func:`_work`): a fresh buffer per chunk would pay its page faults again each time."""
    b, c, n = p.shape
    if b * c * n <= _CHUNK_ELEMENTS:  # one chunk
        return p.new_empty(count, b * c * n)
    largest = max(len(range(*bs.indices(b))) * len(range(*vs.indices(n))) for bs, vs in _chunks(p.shape))
    return p.new_empty(count, largest * c)


def _work(buffer: torch.Tensor, *shape: int) -> torch.Tensor:
    """A view of shape ``shape`` on the start of a flat work buffer."""
    return buffer[:math.prod(shape)].view(shape)


def _onehot_into(y: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Write the one-hot of the labels ``y`` ``(b, n)`` into ``out`` ``(b, C, n)`` (floating) and return it: the
    labels in ``out``'s dtype (in ``scratch``, flat) compared with the class ids (elementwise float ops are several
    times faster than a gather or a scatter along the channels on CPU)."""
    yf = _work(scratch, *y.shape).copy_(y)
    ids = constant(range(out.shape[1]), out.dtype, out.device).view(1, -1, 1)
    return torch.eq(yf.unsqueeze(1), ids, out=out)


def _onehot_chunk_sums(xc: torch.Tensor, pc: torch.Tensor, y: torch.Tensor, v: torch.Tensor | None, squared: bool,
                       lse: torch.Tensor | None, lpt: torch.Tensor | None,
                       work: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_label_chunk_sums` by a chunk-sized one-hot (for a few channels; ``work`` holds two chunk-sized
    buffers): ``(tp, psum, gsum)`` ``(b, C)``, float32 cascade sums within the chunk (counts exact: a chunk holds
    fewer than 2^24 voxels)."""
    oh = _onehot_into(y, _work(work[0], *pc.shape), work[1])
    tmp = _work(work[1], *pc.shape)
    vf = None if v is None else v.unsqueeze(1).to(pc.dtype)
    if vf is not None:
        oh.mul_(vf)
    if lpt is not None:  # x_y = Σ_c [y = c]·x_c
        _log_prob_at_label(torch.mul(xc, oh, out=tmp).sum(1, keepdim=True), lse, v, lpt)
    gsum = oh.sum(2)
    if squared:
        q = torch.mul(pc, pc, out=tmp)
        psum = (q if vf is None else q.mul_(vf)).sum(2)
    else:
        psum = (pc if vf is None else torch.mul(pc, vf, out=tmp)).sum(2)
    return oh.mul_(pc).sum(2), psum, gsum


def _stats_backward(p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, dtp: torch.Tensor,
                    dpsum: torch.Tensor, dlpt: torch.Tensor | None, act: str, squared: bool,
                    out: torch.Tensor) -> torch.Tensor:
    """Write ``dL/dx`` ``(B, C, N)`` into ``out`` (which may be ``p`` itself), from ``dL/dtp``, ``dL/dpsum`` and
    (softmax) ``dL/dlpt`` ``(B, 1, N)`` or None. See the closed forms above."""
    if _binary(act, p.shape[1], squared):
        return _binary_backward(p, labels, valid, dtp, dpsum, dlpt, out)
    c = p.shape[1]
    work = _work_buffers(p, 2) if c <= _ONEHOT_CHANNELS else None
    for bs, vs in _chunks(p.shape):
        pc, oc, y = p[bs, :, vs], out[bs, :, vs], labels[bs, vs].unsqueeze(1)
        a, d = dpsum[bs].unsqueeze(-1), dtp[bs]  # (b, C, 1), (b, C)
        g = None if dlpt is None else dlpt[bs, :, vs]
        if c <= _ONEHOT_CHANNELS:  # h = dL/dp = a (2p if squared) + [y = c]·d, then the activation's backward
            assert work is not None
            oh = _onehot_into(y.squeeze(1), _work(work[0], *pc.shape), work[1])
            h = torch.mul(oh, d.unsqueeze(-1), out=_work(work[1], *pc.shape))
            if squared:
                h.addcmul_(pc, 2 * a)
            else:
                h.add_(a)
            _activation_backward(pc, h, oc, act, None, g)
            if g is not None:
                oc.addcmul_(oh, g)
        elif act == "softmax" and not squared:
            w = pc.gather(1, y).mul_(d.gather(1, y.squeeze(1)).unsqueeze(1))  # p_y·dL/dtp_y
            if g is not None:
                w.add_(g)
            s = _channel_dot(pc, a).add_(w)
            torch.mul(pc, a - s, out=oc)  # (a - s): a chunk-sized temporary
            oc.scatter_add_(1, y, w)
        else:
            # clone, not contiguous(): for a one-voxel chunk expand_as is a no-op and contiguous() would return a
            h = pc * (2 * a) if squared else a.expand_as(pc).clone()
            h.scatter_add_(1, y, d.gather(1, y.squeeze(1)).unsqueeze(1))
            _activation_backward(pc, h, oc, act, None, g)
            if g is not None:
                oc.scatter_add_(1, y, g)
        if valid is not None:
            oc.mul_(valid[bs, vs].unsqueeze(1))
    return out


def _activation_backward(pc: torch.Tensor, h: torch.Tensor, oc: torch.Tensor, act: str,
                         valid: torch.Tensor | None, g: torch.Tensor | None = None) -> None:
    """Write ``dL/dx`` of one chunk into ``oc`` from ``h = dL/dp`` (overwritten) in closed form; 0 at invalid
    voxels (``valid`` ``(b, n)`` bool or None). Under softmax, ``g`` (``dL/dlpt`` or None) adds its ``-g·p_c``
    (the caller scatters the ``+g`` at each voxel's class)."""
    if act == "softmax":
        s = _channel_dot(pc, h)
        if g is not None:
            s.add_(g)
        h.sub_(s)
        torch.mul(pc, h, out=oc)
    elif act == "sigmoid":
        torch.mul(h.mul_(pc), 1 - pc, out=oc)
    else:
        oc.copy_(h)
    if valid is not None:
        oc.masked_fill_(~valid.unsqueeze(1), 0)


def _softmax_in_chunks(act: str, c: int) -> bool:
    """Whether the fast paths write the softmax chunk by chunk (:func:`_softmax_into`, many channels) rather than
    take ``torch.softmax`` of the whole input, which is faster on CPU up to ``_ONEHOT_CHANNELS`` channels (about
    2x at C = 3, 2x slower at C >= 14)."""
    return act == "softmax" and c > _ONEHOT_CHANNELS


def _probs_buffer(x: torch.Tensor, act: str, binary: bool) -> torch.Tensor:
    """The buffer the fast paths keep the probabilities in (and the backward writes ``dL/dx`` into): ``act(x)``, or
    an empty one that the forward fills chunk by chunk (two-class softmax, softmax over many channels); ``x``
    itself with no activation. ``binary``: the two-class path (:func:`_binary`) serves the call."""
    if binary or _softmax_in_chunks(act, x.shape[1]):
        return torch.empty_like(x, memory_format=torch.contiguous_format)
    return _activate(x, act)


def _activated(x: torch.Tensor, act: str, binary: bool = False) -> torch.Tensor:
    """The probabilities as the fast paths' forward makes them (a retained graph's second backward recomputes
    those of the first bit for bit): with ``binary`` (the two-class path), ``p1`` in channel 1 only."""
    p = _probs_buffer(x, act, binary)
    if binary or _softmax_in_chunks(act, x.shape[1]):
        for bs, vs in _chunks(x.shape):
            if binary:
                _binary_probs_into(x[bs, :, vs], p[bs, :, vs])
            else:
                _softmax_into(x[bs, :, vs], p[bs, :, vs])
    return p


def _probs_and_grad_buffer(ctx, x: torch.Tensor, act: str, binary: bool = False) -> tuple[torch.Tensor,
                                                                                        torch.Tensor]:
    """The probabilities a fast path's forward kept (recomputed on a retained graph), and the buffer its backward
    writes ``dL/dx`` into: the probabilities' own, or a new one when ``x`` holds them (no activation)."""
    if act == "none":
        return x, torch.empty_like(x)
    p = ctx.probs if ctx.probs is not None else _activated(x, act, binary)
    ctx.probs = None  # consumed: overwritten by dL/dx
    return p, p


class _LabelMapStats(torch.autograd.Function):
    """``(tp, psum, gsum, lpt)`` from the raw input ``x`` ``(B, C, N)`` and a label map ``(B, N)``: ``(B, C)``
    statistics and, under softmax with ``with_lpt``, the log-probability at each voxel's class ``(B, 1, N)``, 0 at
    invalid voxels (else an empty tensor)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, act: str,
                squared: bool, with_lpt: bool = False):
        with _full_precision(x.device.type):
            fused = act == "softmax"
            p = _probs_buffer(x, act, _binary(act, x.shape[1], squared))
            lpt = x.new_empty((x.shape[0], 1, x.shape[2])) if fused and with_lpt else x.new_empty(0)
            tp, psum, gsum = (t.to(x.dtype) for t in _stats_forward(x, p, labels, valid, act, squared,
                                                                     lpt if lpt.numel() else None))
        ctx.mark_non_differentiable(gsum)
        if not lpt.numel():
            ctx.mark_non_differentiable(lpt)
        ctx.save_for_backward(x, labels, valid)
        ctx.act, ctx.squared = act, squared
        ctx.probs = p if act != "none" else None  # consumed (overwritten by dL/dx) in the first backward
        return tp, psum, gsum, lpt

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dtp: torch.Tensor, dpsum: torch.Tensor, _dgsum: torch.Tensor, dlpt: torch.Tensor | None):
        x, labels, valid = ctx.saved_tensors
        p, out = _probs_and_grad_buffer(ctx, x, ctx.act, _binary(ctx.act, x.shape[1], ctx.squared))
        with _full_precision(x.device.type):
            dlpt = dlpt if dlpt is not None and dlpt.numel() else None
            grad = _stats_backward(p, labels, valid, dtp.to(p.dtype), dpsum.to(p.dtype),
                                   None if dlpt is None else dlpt.to(p.dtype), ctx.act, ctx.squared, out)
        return grad, None, None, None, None, None


class _LabelMapSquaredErrors(torch.autograd.Function):
    """``(Σ_v (g-p)²·g, Σ_v (g-p)²·(1-g))`` ``(B, C)`` from the raw input ``x`` ``(B, C, N)`` and a label map
    ``(B, N)``: the on-class sums ``Σ_{y=c} (1-p_c)²`` and the off-class sums ``Σ_{y≠c} p_c²``, each of
    non-negative terms (no cancellation near a perfect prediction); up to ``_ONEHOT_CHANNELS`` channels through a
    chunk-sized one-hot ``g`` (``e = g - p``, ``on = Σ g·e²``, ``off = Σ (e² - g·e²)``), beyond by a gather and
    float64 label sums (:func:`_label_sums`). Their gradient
    reaches p as ``dL/dp_c = 2p_c·dL/doff_c`` off class and ``-2(1-p_y)·dL/don_y`` at the voxel's class, then x
    through the activation in closed form, chunk by chunk, as in :class:`_LabelMapStats`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                act: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, c = x.shape[:2]
        ctx.save_for_backward(x, labels, valid)
        ctx.act = act
        if _binary(act, c, False):
            with _full_precision(x.device.type):
                p = torch.empty_like(x, memory_format=torch.contiguous_format)
                on, off, counts = _binary_squared_errors(x, p, labels, valid)
            ctx.probs = p
            ctx.mark_non_differentiable(counts)
            return on, off, counts
        with _full_precision(x.device.type):
            p = _activated(x, act)
            on = torch.zeros(b, c + 1, dtype=torch.float64, device=x.device)
            off = torch.zeros(b, c, dtype=torch.float64, device=x.device)
            gsum = torch.zeros(b, c + 1, dtype=torch.float64, device=x.device)
            work = _work_buffers(p, 3) if c <= _ONEHOT_CHANNELS else None
            for bs, vs in _chunks(p.shape):
                pc, y = p[bs, :, vs], labels[bs, vs]
                v = None if valid is None else valid[bs, vs]
                if work is not None:  # e = g - p: on = Σ g·e², off = Σ v·(1 - g)·e² (no cancellation)
                    g = _onehot_into(y, _work(work[0], *pc.shape), work[1])
                    e2 = torch.sub(g, pc, out=_work(work[1], *pc.shape)).square_()
                    on_terms = torch.mul(e2, g, out=_work(work[2], *pc.shape))
                    off_terms = e2.sub_(on_terms)
                    if v is not None:
                        vf = v.unsqueeze(1).to(pc.dtype)
                        on_terms.mul_(vf)
                        off_terms.mul_(vf)
                        g.mul_(vf)
                    on[bs, :c] += on_terms.sum(2)
                    off[bs] += off_terms.sum(2)
                    gsum[bs, :c] += g.sum(2)  # exact: a chunk holds fewer than 2^24 voxels
                    continue
                miss = 1 - pc.gather(1, y.unsqueeze(1))
                spare = _spare_labels(y, v, c)
                on[bs] += _label_sums(spare, miss * miss, c)
                gsum[bs] += _label_sums(spare, None, c)
                sq = (pc * pc).scatter_(1, y.unsqueeze(1), 0)
                off[bs] += (sq if v is None else sq * v.unsqueeze(1)).sum(2)
        ctx.save_for_backward(x, labels, valid)
        ctx.act = act
        ctx.probs = p if act != "none" else None
        counts = gsum[:, :c].to(x.dtype)
        ctx.mark_non_differentiable(counts)
        return on[:, :c].to(x.dtype), off.to(x.dtype), counts

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, don: torch.Tensor, doff: torch.Tensor, _dcounts: torch.Tensor):
        x, labels, valid = ctx.saved_tensors
        binary = _binary(ctx.act, x.shape[1], False)
        p, out = _probs_and_grad_buffer(ctx, x, ctx.act, binary)
        with _full_precision(x.device.type):
            if binary:
                return _binary_squared_errors_backward(p, labels, valid, don.to(p.dtype), doff.to(p.dtype),
                                                       out), None, None, None
            don, doff2 = don.to(p.dtype), (2 * doff).to(p.dtype).unsqueeze(-1)
            work = _work_buffers(p, 2) if p.shape[1] <= _ONEHOT_CHANNELS else None
            for bs, vs in _chunks(p.shape):
                pc, y = p[bs, :, vs], labels[bs, vs].unsqueeze(1)
                v = None if valid is None else valid[bs, vs]
                if work is not None:  # dL/dp = -2(g - p)·(doff + g·(don - doff))
                    g = _onehot_into(y.squeeze(1), _work(work[0], *pc.shape), work[1])
                    e = torch.sub(g, pc, out=_work(work[1], *pc.shape))
                    h = g.mul_(2 * don[bs].unsqueeze(-1) - doff2[bs]).add_(doff2[bs]).mul_(e).neg_()
                    _activation_backward(pc, h, out[bs, :, vs], ctx.act, v)
                    continue
                h = pc * doff2[bs]
                h.scatter_(1, y, (pc.gather(1, y) - 1).mul_(2 * don[bs].gather(1, y.squeeze(1)).unsqueeze(1)))
                _activation_backward(pc, h, out[bs, :, vs], ctx.act, v)
        return out, None, None, None


def _binary_squared_errors(x: torch.Tensor, p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:class:`_LabelMapSquaredErrors` for two classes under softmax: with ``e = [y=1] - p1``, ``A = Σ [y=1]·e²``
    (misses of class 1, ``= Σ_{y=1} p0²``) and ``B = Σ [y=0]·e²`` (``= Σ_{y=0} p1²``): ``on = (B, A)``,
    ``off = (A, B)``; ``p1`` kept in channel 1 of ``p`` (channel 0 is scratch)."""
    b = p.shape[0]
    sums = torch.zeros(4, b, dtype=torch.float64, device=p.device)  # A, B, Σ [y=1], Σ valid
    work = _work_buffers(p[:, :1], 3)
    for bs, vs in _chunks(p.shape):
        pc = p[bs, :, vs]
        yf, vf = _binary_labels(labels[bs, vs], None if valid is None else valid[bs, vs], work)
        p1 = _binary_probs_into(x[bs, :, vs], pc)
        e2 = torch.sub(yf, p1, out=pc[:, 0]).square_()
        on_class = torch.mul(e2, yf, out=_work(work[2], *yf.shape))  # 0 at invalid voxels (yf is)
        off_class = e2.sub_(on_class)  # exact: e² - e² where y = 1
        if vf is not None:
            off_class.mul_(vf)
        sums[0, bs] += on_class.sum(1)
        sums[1, bs] += off_class.sum(1)
        sums[2, bs] += yf.sum(1)  # exact: a chunk holds fewer than 2^24 voxels
        sums[3, bs] += p1.shape[1] if vf is None else vf.sum(1)
    a, b_, n1, n = (t.to(x.dtype) for t in sums)
    return torch.stack([b_, a], 1), torch.stack([a, b_], 1), torch.stack([n - n1, n1], 1)


def _binary_squared_errors_backward(p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                                    don: torch.Tensor, doff: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The backward of :func:`_binary_squared_errors`: ``dL/dp1 = -2e·(dA·[y=1] + dB·[y=0])`` with
    ``dA = don1 + doff0``, ``dB = don0 + doff1``; then ``dL/dz = p1(1 - p1)·dL/dp1`` and ``dL/dx = (-dL/dz,
    dL/dz)``."""
    da, db = (don[:, 1] + doff[:, 0]).unsqueeze(1), (don[:, 0] + doff[:, 1]).unsqueeze(1)
    work = _work_buffers(p[:, :1], 2)
    for bs, vs in _chunks(p.shape):
        p1, dz = p[bs, 1, vs], out[bs, 0, vs]
        yf, vf = _binary_labels(labels[bs, vs], None if valid is None else valid[bs, vs], work)
        torch.mul(yf, da[bs] - db[bs], out=dz).add_(db[bs]).mul_(yf.sub_(p1)).mul_(-2)
        dz.mul_(p1).addcmul_(dz, p1, value=-1)  # · p1(1 - p1)
        _write_logit_pair(dz, vf, out[bs, 1, vs])
    return out


# ---------------------------------------------------------------- small inputs
#
# Below ``_SMALL_ELEMENTS`` the arithmetic costs less than the fixed cost of a Python autograd function and its
# chunk loop: the same statistics come from a handful of tensor ops on a one-hot target, differentiated by autograd
# (in C++), with the same values.

def _small_onehot(x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                  ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(g, v)``: the one-hot ``(B, C, N)`` of the labels in ``x``'s dtype, 0 at invalid voxels, and the validity
    ``(B, 1, N)`` as 0/1 (None when every voxel is valid). ``ids``: the class ids ``(1, C, 1)`` int64 on ``x``'s
    device (:func:`class_ids`), when the caller has them."""
    if ids is None:
        ids = constant(range(x.shape[1]), torch.long, x.device).view(1, -1, 1)
    g = torch.eq(labels.unsqueeze(1), ids, out=torch.empty_like(x))
    if valid is None:
        return g, None
    vf = valid.unsqueeze(1).to(x.dtype)
    return g.mul_(vf), vf


def class_ids(prep: PreparedInput) -> torch.Tensor:
    """``(1, C, 1)`` int64 class ids on the input's device, made once per input signature (:attr:`PreparedInput.static`;
    never modify it)."""
    ids = prep.static.get("class_ids")
    if ids is None:
        x = prep.input
        ids = prep.static["class_ids"] = torch.arange(x.shape[1], device=x.device).view(1, -1, 1)
    return ids


def _small_label_map_stats(x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, act: str,
                           squared: bool, with_lpt: bool = False,
                           ids: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:class:`_LabelMapStats` for a small input, through autograd: ``(tp, psum, gsum, lpt)``, ``lpt`` None unless
    ``with_lpt``. Autocast is off inside, as in the fast paths (entered only when it is on)."""
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return _small_stats(x, labels, valid, act, squared, with_lpt, ids)
    return _small_stats(x, labels, valid, act, squared, with_lpt, ids)


def _small_stats(x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, act: str, squared: bool,
                 with_lpt: bool, ids: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g, vf = _small_onehot(x, labels, valid, ids)
    p = _activate(x, act)
    pv = p if vf is None else p * vf
    tp = (p * g).sum(2)
    psum = (pv * p if squared else pv).sum(2)
    lpt = (torch.log_softmax(x, 1) * g).sum(1, keepdim=True) if with_lpt else None
    return tp, psum, g.sum(2), lpt


def _small_squared_errors(x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                          act: str, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:class:`_LabelMapSquaredErrors` for a small input, through autograd: ``(on, off, gsum)``."""
    with _full_precision(x.device.type):
        g, vf = _small_onehot(x, labels, valid, ids)
        e2 = (g - _activate(x, act)).square()
        off_weight = (1 - g) if vf is None else (vf - g)
    return (e2 * g).sum(2), (e2 * off_weight).sum(2), g.sum(2)


def _fast_path_args(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, str]:
    """``(x (B, C, N), labels (B, N), valid (B, N) or None, activation)`` for the label-map fast paths. A user's
    ``other_act`` stays in autograd: the fast path then starts from its output, with no activation."""
    act = prep.options.activation
    if act == "other":
        x, act = prep.probs(), "none"
    else:
        x = prep.input
    valid = None if prep.valid is None else prep.valid.flatten(1)
    return x.flatten(2), prep.label_map().flatten(1), valid, act


def _label_map_stats(prep: PreparedInput, squared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, psum, gsum)`` ``(B, C)`` of every channel for a label-map target, through :class:`_LabelMapStats`
    (once per prepared input: the terms of a compound loss share it). When the prepared input is asked to fuse the
    label log-probabilities (:attr:`PreparedInput.fuse_label_log_probs`), the same call makes them."""
    hit = prep.fused.get(squared)
    if hit is None:
        x, labels, valid, act = _fast_path_args(prep)
        with_lpt = act == "softmax" and prep.fuse_label_log_probs and "lpt" not in prep.fused
        if x.numel() <= _SMALL_ELEMENTS:
            tp, psum, gsum, lpt = _small_label_map_stats(x, labels, valid, act, squared, with_lpt, class_ids(prep))
        else:
            tp, psum, gsum, lpt = _LabelMapStats.apply(x, labels, valid, act, squared, with_lpt)
        if with_lpt:
            assert lpt is not None
            labels_shape = prep.label_map().shape
            prep.fused["lpt"] = lpt.view(labels_shape[0], 1, *labels_shape[1:])
        hit = prep.fused[squared] = (tp, psum, gsum)
    return hit


def target_sums(prep: PreparedInput) -> torch.Tensor:
    """``(B, C)`` ``Σ_v g`` over the valid voxels of every channel, float64: for a label map the number of valid
    voxels of each label (no probabilities and no host read-back: :func:`_label_sums`), for a one-hot or soft
    target its sum (already zero at invalid voxels)."""
    if prep.labels is None:
        return prep.dense_target().flatten(2).sum(2, dtype=torch.float64)
    valid = None if prep.valid is None else prep.valid.flatten(1)
    c = prep.num_classes
    return _label_sums(_spare_labels(prep.label_map().flatten(1), valid, c), None, c)[:, :c]


def label_counts(prep: PreparedInput) -> torch.Tensor:
    """``(C,)`` float64 number of valid voxels of each label of a label-map target, over the batch."""
    return target_sums(prep).sum(0)


def label_log_probs(prep: PreparedInput) -> torch.Tensor:
    """``(B, 1, *S)`` log-probability of each voxel's class for a label-map target: from the fused statistics op
    when the prepared input fuses them (one softmax and one backward for the region and the voxel terms), else
    :meth:`PreparedInput.label_log_probs`."""
    if prep._label_log_probs is None and prep.fuse_label_log_probs and prep.options.activation == "softmax":
        if "lpt" not in prep.fused:
            _label_map_stats(prep, False)
        prep._label_log_probs = prep.fused.get("lpt")  # None if made before the hint: then unfused
    return prep.label_log_probs()


def squared_error_sums(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Σ_v (g-p)²·g, Σ_v (g-p)²·(1-g), Σ_v g)`` over the valid voxels, per (sample, channel) for every channel:
    three ``(B, C)`` (the numerators of the sensitivity and specificity errors, Brosch 2015, and the target sums
    of their denominators). A label map goes through the closed-form :class:`_LabelMapSquaredErrors` (which counts
    the labels in the same pass), a one-hot or soft target through autograd."""
    if prep.labels is not None:
        x, labels, valid, act = _fast_path_args(prep)
        if x.numel() <= _SMALL_ELEMENTS:
            return _small_squared_errors(x, labels, valid, act, class_ids(prep))
        return _LabelMapSquaredErrors.apply(x, labels, valid, act)
    return (class_sums(prep, lambda p, g: (g - p) ** 2 * g), class_sums(prep, lambda p, g: (g - p) ** 2 * (1 - g)),
            target_sums(prep).to(prep.input.dtype))


@dataclass
class RegionStats:
    """Soft confusion statistics of the kept channels.

    Attributes:
        tp: ``(B, K)`` (``(K,)`` with ``batch=True``) Σ p·g.
        psum: Σ p (Σ p² with ``squared``).
        gsum: Σ g (Σ g² with ``squared``).
        n: number of valid voxels, broadcastable to ``tp``.
        all_present: every unit has valid voxels (no mask and no ignored voxel): :attr:`present` is then None.
    """

    tp: torch.Tensor
    psum: torch.Tensor
    gsum: torch.Tensor
    n: torch.Tensor
    all_present: bool = False

    @property
    def fp(self) -> torch.Tensor:
        return self.psum - self.tp

    @property
    def fn(self) -> torch.Tensor:
        return self.gsum - self.tp

    @property
    def tn(self) -> torch.Tensor:
        return self.n - self.psum - self.gsum + self.tp

    @property
    def empty(self) -> torch.Tensor:
        """True for a unit with no target voxel."""
        return self.gsum == 0

    @property
    def present(self) -> torch.Tensor | None:
        """True for a unit with at least one valid voxel; None when every unit has one (``all_present``)."""
        return None if self.all_present else (self.n > 0).expand_as(self.tp)


def valid_counts(prep: PreparedInput) -> torch.Tensor:
    """``(B, 1)`` number of valid voxels per sample, in the compute dtype."""
    x = prep.input
    if prep.valid is None:  # a constant of the input signature, made once (never modify it)
        counts = prep.static.get("valid_counts")
        if counts is None:
            counts = prep.static["valid_counts"] = torch.full((x.shape[0], 1), x[0, 0].numel(), dtype=x.dtype,
                                                              device=x.device)
        return counts
    return prep.valid.flatten(1).sum(1, keepdim=True).to(x.dtype)


def kept_and_batched(prep: PreparedInput, sums: torch.Tensor, batch: bool, distributed: bool) -> torch.Tensor:
    """Select the kept channels of ``(..., B, C)`` sums, then sum over the batch (and DDP ranks) when asked.

    Returns ``(..., B, K)``, or ``(..., K)`` with ``batch``.
    """
    if not prep.all_channels_kept:
        sums = sums.index_select(-1, prep.channels)
    if batch:
        sums = sums.sum(-2)
        if distributed:
            sums = global_sum(sums)
    return sums


def confusion_stats(prep: PreparedInput, *, squared: bool = False, batch: bool = False, distributed: bool = False,
                    soft_label: bool = False) -> RegionStats:
    """Soft TP, Σp and Σg of the kept channels, in one pass over the probabilities.

    Args:
        prep: the prepared input.
        squared: use Σp² and Σg² for ``psum``/``gsum`` (MONAI's ``squared_pred``).
        batch: sum over the batch before scoring (results ``(K,)``).
        distributed: with ``batch``, also sum them over every DDP rank (autograd-aware).
        soft_label: the decoupled statistics of Wang et al. (2023), "Dice semimetric losses: optimizing the Dice
            score with soft labels", MICCAI: ``TP = (Σ|p| + Σ|g| - Σ|p - g|) / 2``, ``psum = Σ|p|``; no effect with
            ``squared`` (whose ``TP = Σp·g`` already equals ``(Σp² + Σg² - Σ(p - g)²) / 2``).
    """
    if soft_label and not squared and (prep.labels is None or prep.options.activation == "other"):
        tp, psum, gsum = _decoupled_sums(prep)
    elif prep.labels is not None:  # (with probabilities in [0, 1], |p - g| = p + g - 2p·g for a label map)
        tp, psum, gsum = _label_map_stats(prep, squared)
    else:
        p, g, v = prep.probs(), prep.dense_target(), prep.valid_float()  # g is already zero at invalid voxels
        pv = p if v is None else p * v
        psum = (pv * p if squared else pv).flatten(2).sum(2)
        tp = (pv * g).flatten(2).sum(2)
        gsum = (g * g if squared else g).flatten(2).sum(2)
    n = valid_counts(prep).expand_as(tp)
    if batch or not prep.all_channels_kept:  # one selection (and all-reduce) for the four
        stacked = torch.stack([tp, psum, gsum, n])
        tp, psum, gsum, n = kept_and_batched(prep, stacked, batch, distributed).unbind(0)
    return RegionStats(tp=tp, psum=psum, gsum=gsum, n=n, all_present=prep.valid is None)


def _decoupled_sums(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(TP, Σ|p|, Σg)`` ``(B, C)`` with ``TP = (Σ|p| + Σg - Σ|p - g|) / 2`` over the valid voxels (Wang 2023).

    Only needed where it differs from ``Σp·g``: a soft target, or an ``other_act`` whose output leaves [0, 1]."""
    p, g, v = prep.probs(), prep.target_onehot(), prep.valid_float()  # g is zero at invalid voxels
    diff = (p - g).abs()
    pabs = p.abs()
    if v is not None:
        diff, pabs = diff * v, pabs * v
    psum, gsum, dsum = (t.flatten(2).sum(2) for t in (pabs, g, diff))
    return (psum + gsum - dsum) / 2, psum, gsum
