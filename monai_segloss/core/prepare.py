"""Stage 1 of every loss: validate the tensors, apply the activation, represent the target, build the validity mask,
and resolve the scored channels and class weights (docs/ARCHITECTURE.md §2-3).

No loss re-implements any of this. A label-map target stays a ``(B, *S)`` tensor of class ids: losses that need a
one-hot tensor ask for it explicitly (:meth:`PreparedInput.target_onehot`), the region statistics never do.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .options import InputOptions

__all__ = ["PreparedInput", "prepare_input", "plain_tensor", "shared_preparation", "constant", "data_check"]


def _channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_c a_c·b_c`` over dim 1, ``(B, 1, *S)``, without a ``(B, C, *S)`` temporary."""
    s = a[:, :1] * b[:, :1]
    for c in range(1, a.shape[1]):
        s.addcmul_(a[:, c:c + 1], b[:, c:c + 1])
    return s


class _SoftmaxAtLabels(torch.autograd.Function):
    """``(softmax(x), log_softmax(x) at the labels)`` over dim 1, with one fused backward.

    ``log p_t`` is taken as ``x_t - x_max + log p_max`` (``p_max >= 1/C``, so the log is well conditioned and the
    result is as exact as ``log_softmax``). The backward,
    ``∂/∂x_j = p_j·(g_p,j - Σ_c p_c·g_p,c - g_t) + g_t·[j = t]``, saves only the probabilities: no log-softmax
    tensor is kept and no one-hot or zero-filled gradient of the gather is made.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor):
        ctx.set_materialize_grads(False)
        p = torch.softmax(x, dim=1)
        # the largest probability belongs to the largest logit (amax: no index needed, much faster than max)
        lpt = x.gather(1, labels) - x.amax(dim=1, keepdim=True) + torch.log(p.amax(dim=1, keepdim=True))
        ctx.save_for_backward(p, labels)
        return p, lpt

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_p: torch.Tensor | None, g_lpt: torch.Tensor | None):
        p, labels = ctx.saved_tensors
        if g_p is None and g_lpt is None:
            return None, None
        # grad = p·(g_p - Σ_c p_c·g_p,c - g_t) + g_t·onehot, built in place in one (B, C, *S) buffer
        if g_p is not None:
            s = _channel_dot(p, g_p)
            if g_lpt is not None:
                s.add_(g_lpt)
            grad = g_p - s
        else:
            assert g_lpt is not None
            grad = (-g_lpt).expand_as(p).clone()
        grad.mul_(p)
        if g_lpt is not None:
            grad.scatter_add_(1, labels, g_lpt)
        return grad, None


class _SoftmaxDot(torch.autograd.Function):
    """``Σ softmax(x) · w`` over every element (softmax over dim 1, ``w`` a constant of ``x``'s shape).

    The forward makes ``p = softmax(x)`` and the per-voxel ``s = Σ_c p_c·w_c`` (summed with torch's cascade sum: a
    BLAS dot over millions of mixed-sign terms drifts by 1e-4 in float32); the backward is the closed form
    ``∂/∂x_j = g · p_j · (w_j - s)``. That is a third of the passes over the volume of ``(softmax(x) * w).sum()``
    through autograd. A loss linear in the probabilities (the boundary loss) needs nothing else.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor):
        p = torch.softmax(x, dim=1)
        s = _channel_dot(p, w)
        ctx.save_for_backward(p, w, s)
        return s.sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        p, w, s = ctx.saved_tensors
        return torch.sub(w, s).mul_(p).mul_(g), None


def plain_tensor(x: torch.Tensor) -> torch.Tensor:
    """Drop a tensor subclass (such as MONAI's ``MetaTensor``) without breaking autograd."""
    return x if type(x) is torch.Tensor else x.as_subclass(torch.Tensor)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float16/bfloat16/float32 are computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@dataclass
class PreparedInput:
    """What every loss receives after stage 1.

    Attributes:
        input: ``(B, C, *S)`` raw input (logits or probabilities), in float32 (float64 if given float64).
        options: the :class:`InputOptions` used.
        labels: ``(B, *S)`` int64 class ids when the target is a label map with C > 1, else None. Invalid voxels
            hold 0 (read ``valid``).
        dense: ``(B, C, *S)`` one-hot or soft target in the compute dtype when the target is not a label map,
            else None. Invalid voxels hold 0.
        valid: ``(B, *S)`` bool, False where ``mask`` is 0 or the target equals ``ignore_index``; None when every
            voxel is valid.
        channels: ``(K,)`` int64 ids of the scored ("kept") channels.
        weight: ``(K,)`` class weights of the kept channels, or None.
        fuse_label_log_probs: a label-map target's log-probabilities at the labels are wanted too (a cross-entropy
            or focal term will ask): under softmax the region statistics' fused op then makes them in the same pass
            (:func:`monai_segloss.core.stats.label_log_probs`). Set by :func:`shared_preparation` or by a loss
            that needs both.
        fused: what the label-map fused op made for this input (statistics of every channel by ``squared``, and
            ``"lpt"``), shared with the prepared inputs of the same tensors and activation that differ only in
            channel selection, class weights or reduction (the terms of a compound loss).
        static: constants that depend only on the input's signature (shapes, dtype, device) and the options, such
            as the class ids or the voxel counts without a mask: shared by every call of one loss on tensors of
            that signature (the memo of :func:`prepare_input`'s plan). Never modify a tensor in it.
    """

    input: torch.Tensor
    options: InputOptions
    labels: torch.Tensor | None
    dense: torch.Tensor | None
    valid: torch.Tensor | None
    channels: torch.Tensor
    weight: torch.Tensor | None
    _probs: torch.Tensor | None = field(default=None, repr=False)
    _log_probs: tuple[torch.Tensor, torch.Tensor | None] | None = field(default=None, repr=False)
    _label_log_probs: torch.Tensor | None = field(default=None, repr=False)
    _label_probs: torch.Tensor | None = field(default=None, repr=False)
    fuse_label_log_probs: bool = field(default=False, repr=False)
    fused: dict = field(default_factory=dict, repr=False)
    static: dict = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return self.input.shape[1]

    @property
    def all_channels_kept(self) -> bool:
        return self.channels.numel() == self.num_classes

    def probs(self) -> torch.Tensor:
        """``(B, C, *S)`` probabilities: the activation applied to every channel (cached)."""
        if self._probs is None:
            x, act = self.input, self.options.activation
            if act == "sigmoid":
                p = torch.sigmoid(x)
            elif act == "softmax" and self.labels is not None:
                p, self._label_log_probs = _SoftmaxAtLabels.apply(x, self.labels.unsqueeze(1))
            elif act == "softmax":  # exp of the cached log-softmax: one softmax (and backward) serves both
                p = torch.exp(self.log_probs()[0])
            elif act == "other":
                assert self.options.other_act is not None
                p = self.options.other_act(x)
                if not isinstance(p, torch.Tensor):
                    raise TypeError(f"other_act must return a torch.Tensor, got {type(p).__name__}")
                p = plain_tensor(p)
                if p.shape != x.shape:
                    raise ValueError(f"other_act must return a tensor of the input's shape {tuple(x.shape)}, "
                                     f"got {tuple(p.shape)}")
                p = p.to(x.dtype)
            else:
                p = x
            self._probs = p
        return self._probs

    def log_probs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(log p, log(1 - p))`` for every channel, from logits where possible.

        softmax: ``(log_softmax(x), None)``; sigmoid: ``(logsigmoid(x), logsigmoid(-x))``; otherwise the logs of
        the probabilities, where a probability of exactly 0 gives the float type's most negative finite log.
        """
        if self._log_probs is None:
            x, act = self.input, self.options.activation
            if act == "softmax":
                self._log_probs = (F.log_softmax(x, dim=1), None)
            elif act == "sigmoid":
                self._log_probs = (F.logsigmoid(x), F.logsigmoid(-x))
            else:
                p = self.probs()
                tiny = torch.finfo(p.dtype).tiny
                self._log_probs = (torch.log(p.clamp_min(tiny)), torch.log((1 - p).clamp_min(tiny)))
        return self._log_probs

    def label_map(self) -> torch.Tensor:
        """``(B, *S)`` int64 labels; only for a label-map target (``labels`` is None otherwise)."""
        assert self.labels is not None, "a label-map target was expected"
        return self.labels

    def dense_target(self) -> torch.Tensor:
        """``(B, C, *S)`` one-hot or soft target; only when the target is not a label map (``dense`` is None then)."""
        assert self.dense is not None, "a one-hot or soft target was expected"
        return self.dense

    def label_log_probs(self) -> torch.Tensor:
        """``(B, 1, *S)`` log-probability of each voxel's class, for a label-map target (one gather, cached)."""
        if self._label_log_probs is None:
            if self.options.activation == "softmax":
                self.probs()  # the fused softmax sets both
            else:
                self._label_log_probs = self.log_probs()[0].gather(1, self.label_map().unsqueeze(1))
        assert self._label_log_probs is not None
        return self._label_log_probs

    def label_probs(self) -> torch.Tensor:
        """``(B, 1, *S)`` probability of each voxel's class, for a label-map target (cached). Under softmax it is
        ``exp`` of :meth:`label_log_probs`, so losses that use both share one gather (and one gather backward)."""
        if self._label_probs is None:
            if self.options.activation == "softmax":
                self._label_probs = torch.exp(self.label_log_probs())
            else:
                self._label_probs = self.probs().gather(1, self.label_map().unsqueeze(1))
        return self._label_probs

    def prob_dot(self, w: torch.Tensor) -> torch.Tensor:
        """``Σ keep(probs()) · w`` for a constant ``w`` ``(B, K, *S)`` (K kept channels): the sum of a loss linear in
        the probabilities. Under softmax, while no other term has asked for the probabilities, one fused softmax and
        dot product with a closed-form backward (:class:`_SoftmaxDot`); otherwise the plain product."""
        if self.options.activation != "softmax" or self._probs is not None:
            return (self.keep(self.probs()) * w).sum()
        if not self.all_channels_kept:  # dropped channels weigh 0
            w = w.new_zeros(self.input.shape).index_copy_(1, self.channels, w)
        return _SoftmaxDot.apply(self.input, w.detach())

    def target_onehot(self) -> torch.Tensor:
        """``(B, C, *S)`` target in the compute dtype (materialises a one-hot tensor for label maps)."""
        if self.dense is not None:
            return self.dense
        # one eq against the class ids, laid out as F.one_hot(labels, C).movedim(-1, 1).to(dtype) (the labels are
        # checked: no read-back of their range, which F.one_hot makes on CPU)
        labels = self.label_map()
        ids = self.static.get("class_ids_last")
        if ids is None:
            ids = self.static["class_ids_last"] = torch.arange(self.num_classes, device=labels.device)
        onehot = torch.eq(labels.unsqueeze(-1), ids,
                          out=labels.new_empty((*labels.shape, self.num_classes), dtype=self.input.dtype))
        onehot = onehot.movedim(-1, 1)
        if self.valid is not None:
            onehot = onehot * self.valid.unsqueeze(1)
        return onehot

    def valid_float(self) -> torch.Tensor | None:
        """``(B, 1, *S)`` validity as 0/1 in the compute dtype, or None when every voxel is valid."""
        return None if self.valid is None else self.valid.unsqueeze(1).to(self.input.dtype)

    def keep(self, x: torch.Tensor) -> torch.Tensor:
        """Select the kept channels along dim 1 (no copy when every channel is kept)."""
        return x if self.all_channels_kept else x.index_select(1, self.channels)


def _value_range(t: torch.Tensor, compiling: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(min, max)`` of ``t`` in one pass. A dense tensor in another memory layout (a channels-last tensor, or a
    one-hot target made by ``one_hot(y).movedim(-1, 1)``) is read in its memory order: a strided reduction over it
    takes about 9x longer. (Under ``torch.compile`` the compiler picks the order: strides may be symbolic.)
    ``compiling``: :func:`torch.compiler.is_compiling`, when the caller knows it."""
    if compiling or (compiling is None and torch.compiler.is_compiling()) or t.is_contiguous():
        return torch.aminmax(t)
    strides = t.stride()
    order = sorted(range(t.ndim), key=lambda d: -strides[d])
    in_memory_order = t.permute(order)
    return torch.aminmax(in_memory_order if in_memory_order.is_contiguous() else t)


def data_check(ok: torch.Tensor, message: Callable[[], str], compiling: bool | None = None) -> None:
    """Raise ``ValueError(message())`` unless the 0-d bool tensor ``ok`` is True, without making a Python value of it.

    On CPU the check is immediate (``torch._assert_async`` reads the flag in C++; its failure becomes the
    ``ValueError``). On a GPU it is an asynchronous device assertion: the call never waits for the device, and bad
    data stop the program at the next synchronisation with a device-side assertion error, as torch's own
    ``cross_entropy`` does for labels out of range. Under ``torch.compile`` it is the graph's assertion.
    ``compiling``: :func:`torch.compiler.is_compiling`, when the caller knows it.
    """
    if ok.device.type != "cpu" or (torch.compiler.is_compiling() if compiling is None else compiling):
        torch._assert_async(ok, "monai_segloss: invalid input values (see the input checks of prepare_input)")
        return
    try:
        torch._assert_async(ok)
    except RuntimeError:
        raise ValueError(message()) from None


@functools.lru_cache(maxsize=512)
def _constant(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


def constant(values: Sequence, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A tensor of the numbers ``values`` on ``device``, made once per (values, dtype, device) and shared: making it
    on every call would copy it from the host each time, which waits for a GPU. Never modify the result."""
    # traced: constants of the graph; in inference mode: made each time (an inference tensor cannot be saved for
    # a backward later)
    shared = not (torch.compiler.is_compiling() or torch.is_inference_mode_enabled())
    return (_constant if shared else _constant.__wrapped__)(tuple(values), dtype, torch.device(device))


@functools.lru_cache(maxsize=512)
def _scored_channels(c: int, include_background: bool, exclude: tuple[int, ...], ignored_class: int | None,
                     weight: float | tuple[float, ...] | None, dtype: torch.dtype,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(channels (K,), weight (K,) or None)``: the scored channel ids and their class weights, made once per
    arguments (pure: the same arguments give the same tensors, never to be modified)."""
    excluded = set(exclude)
    if not include_background:
        if c == 1:
            raise ValueError("include_background=False with a single-channel input would score nothing; the "
                             "channel of a binary (C=1) input is the foreground: keep include_background=True")
        excluded.add(0)
    out_of_range = sorted(i for i in exclude if i >= c)
    if out_of_range:
        raise ValueError(f"exclude_channels holds ids outside [0, {c}): {out_of_range}")
    if ignored_class is not None:
        excluded.add(ignored_class)  # a real class whose voxels are all ignored has nothing left to score
    kept = [i for i in range(c) if i not in excluded]
    if not kept:
        raise ValueError(f"no channel left to score: C={c}, include_background={include_background}, "
                         f"exclude_channels={list(exclude)}, ignore_index={ignored_class}")
    channels = torch.tensor(kept, dtype=torch.long, device=device)
    if weight is None:
        return channels, None
    if isinstance(weight, float):  # one weight for every class
        return channels, torch.full((len(kept),), weight, dtype=dtype, device=device)
    w = torch.tensor(weight, dtype=dtype, device=device)
    if w.numel() == c:
        return channels, w.index_select(0, channels)
    if w.numel() != len(kept):
        lengths = f"C={c} (one per channel)" if len(kept) == c else \
            f"C={c} (by channel id) or {len(kept)} (the kept channels {kept})"
        raise ValueError(f"weight must have length {lengths}, got length {w.numel()}: give one weight per class, "
                         "or one number for every class")
    return channels, w


def _check_integral(name: str, t: torch.Tensor, compiling: bool | None = None) -> None:
    if t.is_floating_point():
        data_check((t == t.round()).all(), lambda: f"{name} must hold integer class ids, got non-integer values: "
                   "resample label maps with nearest-neighbour interpolation and cast them with .long(), or pass a "
                   "one-hot or soft target with to_onehot_y=False", compiling)


def _label_range_message(y: torch.Tensor, invalid: torch.Tensor | None, c: int, ignore: int | None) -> str:
    bad = (y < 0) | (y >= c)
    if invalid is not None:
        bad = bad & ~invalid
    found = torch.unique(y[bad])[:8].tolist()
    return (f"target holds label values outside [0, {c}) (C = input channels): {found}"
            + ("" if ignore is None else f"; ignore_index={ignore}")
            + f": give the network one output channel per class (C = {c} here), or set ignore_index to a label "
              "whose voxels should count nowhere")


def _mask_to_valid(mask: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``mask`` broadcastable to ``(B, 1, *S)`` -> ``(B, *S)`` bool."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    b, spatial = shape[0], shape[2:]
    try:
        m = plain_tensor(mask).detach().expand(b, 1, *spatial)
    except RuntimeError as err:
        raise ValueError(f"mask must be broadcastable to (B, 1, *S) = {(b, 1, *spatial)}, "
                         f"got shape {tuple(mask.shape)}") from err
    return m[:, 0] != 0


_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("monai_segloss_shared_prep", default=None)
_FUSE = "fuse_label_log_probs"  # the cache's entry for the hint (never a key of a prepared input)


class _SharedPreparation:
    """The context manager of :func:`shared_preparation` (a class: entering and leaving it is a few calls)."""

    __slots__ = ("label_log_probs", "token")

    def __init__(self, label_log_probs: bool) -> None:
        self.label_log_probs = label_log_probs
        self.token: contextvars.Token | None = None

    def __enter__(self) -> None:
        outer = _SHARED.get()
        if outer is not None:  # nested: keep the outer cache
            outer[_FUSE] = outer.get(_FUSE, False) or self.label_log_probs
            return
        self.token = _SHARED.set({_FUSE: self.label_log_probs})

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _SHARED.reset(self.token)
            self.token = None


def shared_preparation(label_log_probs: bool = False) -> AbstractContextManager[None]:
    """Within the block, :func:`prepare_input` calls on the same ``input``/``target``/``mask`` objects with equal
    input options (``reduction`` aside) return one :class:`PreparedInput`: validation, activation and
    log-probabilities are computed once for all the terms of a compound loss (and their gradients meet before a
    single activation backward).

    ``label_log_probs``: some term will ask for the log-probabilities at the labels (cross-entropy, focal), so the
    region statistics of a label map make them in their fused pass (:attr:`PreparedInput.fuse_label_log_probs`).
    The cache lives for the block only: nothing is kept across calls."""
    return _SharedPreparation(label_log_probs)


def _input_key(options: InputOptions) -> tuple:
    return tuple(getattr(options, f.name) for f in fields(InputOptions) if f.name != "reduction")


def prepare_input(input: torch.Tensor, target: torch.Tensor, options: InputOptions,
                  mask: torch.Tensor | None = None) -> PreparedInput:
    """Validate ``input``/``target``/``mask`` and return the :class:`PreparedInput` every loss works on (one
    shared object for equal calls inside a :func:`shared_preparation` block). See :func:`_prepare_input`."""
    cache = _SHARED.get()
    if cache is None:
        return _prepare_input(input, target, options, mask)
    ids = (id(input), id(target), id(mask))
    memo = options.memo()
    option_keys = memo.get("share_keys")
    if option_keys is None:  # (the options are frozen: made once per options object)
        option_keys = memo["share_keys"] = (_input_key(options), _core_key(options))
    key, core_key = ids + (option_keys[0],), ids + (option_keys[1],)
    try:
        hit, core = cache.get(key), cache.get(core_key)
    except TypeError:  # an unhashable other_act: no sharing
        return _prepare_input(input, target, options, mask)
    if hit is not None and hit[0] is input and hit[1] is target and hit[2] is mask:
        return hit[3]
    if core is not None and core[0] is input and core[1] is target and core[2] is mask:
        prep = _reselect(core[3], options)  # same tensors and activation: share what the fused op makes
    else:
        prep = _prepare_input(input, target, options, mask)
        prep.fuse_label_log_probs = cache[_FUSE]
        cache[core_key] = (input, target, mask, prep)
    cache[key] = (input, target, mask, prep)
    return prep


def _core_key(options: InputOptions) -> tuple:
    """The options that decide the prepared tensors and probabilities (not the channel selection, class weights
    or reduction)."""
    return ("core", options.sigmoid, options.softmax, options.other_act, options.to_onehot_y, options.ignore_index)


def _reselect(prep: PreparedInput, options: InputOptions) -> PreparedInput:
    """``prep`` under ``options`` that differ from its own only in channel selection, class weights or reduction:
    the same tensors and the same fused results (:attr:`PreparedInput.fused`), new channels and weights."""
    channels, weight = _selection(prep.num_classes, prep.labels is not None, options, prep.input)
    return PreparedInput(input=prep.input, options=options, labels=prep.labels, dense=prep.dense, valid=prep.valid,
                         channels=channels, weight=weight, fuse_label_log_probs=prep.fuse_label_log_probs,
                         fused=prep.fused, static=prep.static)


def _selection(c: int, label_map: bool, opts: InputOptions, x: torch.Tensor,
               compiling: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The scored channels and their class weights (:func:`_scored_channels`) for ``opts``."""
    ignore = opts.ignore_index
    ignored_class = ignore if label_map and ignore is not None and 0 <= ignore < c else None
    if compiling is None:
        compiling = torch.compiler.is_compiling()
    # (not shared when traced, nor in inference mode: an inference tensor cannot be saved for a backward later)
    make = _scored_channels.__wrapped__ if compiling or torch.is_inference_mode_enabled() else _scored_channels
    return make(c, opts.include_background, opts.exclude_channels, ignored_class, opts.weight, x.dtype, x.device)


class _Plan(NamedTuple):
    """What :func:`_prepare_input` decided from an input's metadata under one options object, so that a call on
    tensors of the same types, shapes, dtypes and devices (and a mask of the same kind) skips those checks (they
    passed) and those decisions. The data checks (label range, integral labels, value ranges) run on every call."""

    cast: torch.dtype | None  # the compute dtype, when the input has another
    squeeze: bool  # a label map (B, 1, *S): drop dim 1
    integral: bool  # a floating-point target read as class ids: check that it holds integers
    label_map: bool  # to_onehot_y with C > 1
    channels: torch.Tensor
    weight: torch.Tensor | None
    static: dict  # :attr:`PreparedInput.static`


_PLANS = "prepare_plans"  # the options' memo entry (:meth:`~monai_segloss.core.options.Options.memo`)
_MAX_PLANS = 16  # input signatures remembered per options object (a loss sees a few shapes)


def _plan_key(input: object, target: object, mask: object) -> tuple | None:
    """The metadata every check of :func:`_prepare_input` other than the data checks reads; None when an argument is
    not a tensor (the checks then raise)."""
    if not (isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor)):
        return None
    if mask is None:
        m: tuple | None = None
    elif isinstance(mask, torch.Tensor):
        m = (type(mask), mask.shape)
    else:
        return None
    # (inference mode apart: a constant made there is an inference tensor, which autograd cannot save later)
    return (type(input), input.dtype, input.shape, input.device, type(target), target.dtype, target.shape,
            target.device, m, torch.is_inference_mode_enabled())


def _prepare_input(input: torch.Tensor, target: torch.Tensor, options: InputOptions,
                   mask: torch.Tensor | None = None) -> PreparedInput:
    """Validate ``input``/``target``/``mask`` and return the :class:`PreparedInput` every loss works on.

    The checks and decisions that depend only on the tensors' metadata and the options are made once per options
    object and input signature (:class:`_Plan`, kept in the options' memo); the data checks run on every call, in
    the same order, so a call raises what it raised before, with the same message.

    Args:
        input: ``(B, C, *S)``, 1 to 3 spatial dims, floating point.
        target: ``(B, 1, *S)`` or ``(B, *S)`` label map with ``to_onehot_y=True``; else ``(B, C, *S)``.
        options: the loss's :class:`InputOptions`.
        mask: optional, broadcastable to ``(B, 1, *S)``; voxels where it is 0 count nowhere.

    Raises:
        TypeError: a tensor argument of the wrong type or dtype.
        ValueError: a shape, channel or label-range mismatch, or options that do not fit the input.
    """
    compiling = torch.compiler.is_compiling()
    key = None if compiling else _plan_key(input, target, mask)
    plans: dict | None = None
    plan: _Plan | None = None
    if key is not None:
        memo = options.__dict__.get("_memo")
        plans = (options.memo() if memo is None else memo).get(_PLANS)
        if plans is None:
            plans = options.memo()[_PLANS] = {}
        plan = plans.get(key)
    if plan is None:
        prep, plan = _prepare_checked(input, target, options, mask, compiling)
        if plans is not None:
            if len(plans) >= _MAX_PLANS:
                plans.clear()
            plans[key] = plan
        return prep
    opts = options
    x = input if type(input) is torch.Tensor else input.as_subclass(torch.Tensor)
    if plan.cast is not None:
        x = x.to(plan.cast)
    y = target if type(target) is torch.Tensor else target.as_subclass(torch.Tensor)
    labels: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    invalid: torch.Tensor | None = None
    if plan.label_map:
        if plan.squeeze:
            y = y[:, 0]
        labels, invalid = _label_map(y, opts.ignore_index, x.shape[1], plan.integral, False)
    else:
        dense, invalid = _dense_target(y, x, opts, plan.integral, False)
    valid, dense = _validity(x, opts, dense, invalid, mask, False)
    return PreparedInput(input=x, options=opts, labels=labels, dense=dense, valid=valid, channels=plan.channels,
                         weight=plan.weight, static=plan.static)


def _label_map(y: torch.Tensor, ignore: int | None, c: int, integral: bool,
               compiling: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(labels, invalid)`` of a ``(B, *S)`` label map: class ids as int64 (ignored voxels hold 0) and where the
    target equals ``ignore_index`` (or None); checks that the target holds integers (``integral``: a floating
    target) and that every label lies in [0, C)."""
    if integral:
        _check_integral("target", y, compiling)
    y = y.long()
    invalid = None if ignore is None else y == ignore
    labels = y if invalid is None else y.masked_fill(invalid, 0)
    lo, hi = _value_range(labels, compiling)  # one pass (ignored voxels hold 0)
    data_check((lo >= 0) & (hi < c), lambda: _label_range_message(y, invalid, c, ignore), compiling)
    return labels, invalid


def _dense_target(y: torch.Tensor, x: torch.Tensor, opts: InputOptions, integral: bool,
                  compiling: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(dense, invalid)`` of a one-hot or soft target of the input's shape: in the compute dtype, 0 where ignored
    (every channel equals ``ignore_index``), checked to lie in [0, 1]."""
    c = x.shape[1]
    if integral:  # to_onehot_y with C == 1: a binary label map is its own target
        _check_integral("target", y, compiling)
    yf = y.to(x.dtype)
    ignore = opts.ignore_index
    invalid = None if ignore is None else (y == ignore).all(dim=1)
    check = yf if invalid is None else yf.masked_fill(invalid.unsqueeze(1), 0)
    lo, hi = _value_range(check.detach(), compiling)  # (not empty: the input is not)
    data_check((lo >= 0) & (hi <= 1),  # False for NaN too
               lambda: f"target must hold values in [0, 1] (one-hot or soft; binary labels for C=1), got "
                       f"range [{float(lo):g}, {float(hi):g}]"
                       + ("" if c == 1 else "; set to_onehot_y=True for a label map"), compiling)
    return check, invalid


def _validity(x: torch.Tensor, opts: InputOptions, dense: torch.Tensor | None, invalid: torch.Tensor | None,
              mask: torch.Tensor | None, compiling: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(valid, dense)``: the validity from ``mask`` and the ignored voxels (a dense target zeroed where invalid),
    then the input's range check when no activation is set."""
    valid = None if mask is None else _mask_to_valid(mask, tuple(x.shape))
    if invalid is not None:
        valid = ~invalid if valid is None else valid & ~invalid
    if valid is not None and dense is not None:
        dense = dense * valid.unsqueeze(1)
    if opts.activation == "none":  # probabilities expected
        lo, hi = _value_range(x.detach(), compiling)
        data_check((lo >= 0) & (hi <= 1),  # False for NaN too
                   lambda: f"input must hold probabilities in [0, 1] when no activation is set, got range "
                           f"[{float(lo):g}, {float(hi):g}]; set sigmoid=True or softmax=True for logits", compiling)
    return valid, dense


def _prepare_checked(input: torch.Tensor, target: torch.Tensor, options: InputOptions, mask: torch.Tensor | None,
                     compiling: bool) -> tuple[PreparedInput, _Plan]:
    """:func:`_prepare_input` with every check, in order; also returns the :class:`_Plan` of the input's metadata."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor (logits or probabilities), got {input.dtype}")
    if not 3 <= input.ndim <= 5:
        raise ValueError(f"input must have shape (B, C, *S) with 1 to 3 spatial dims, got shape {tuple(input.shape)}")
    if target.is_complex():
        raise TypeError(f"target must be a real (integer, bool or floating) tensor, got {target.dtype}")
    if input.numel() == 0:
        raise ValueError(f"input must not be empty, got shape {tuple(input.shape)}")
    opts = options
    x = plain_tensor(input)
    compute_dtype = _compute_dtype(x.dtype)
    cast = None if compute_dtype == x.dtype else compute_dtype
    x = x.to(compute_dtype)
    y = plain_tensor(target)
    b, c, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    if y.device != x.device:
        raise ValueError(f"target must be on the input's device {x.device}, got {y.device}")

    if opts.softmax and c == 1:
        raise ValueError("softmax=True needs at least 2 channels in input; for a single-channel (binary) input use "
                         "sigmoid=True")

    # ---- target representation
    labels: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    invalid: torch.Tensor | None = None  # (B, *S) bool, True where ignored
    squeeze = False
    label_map = opts.to_onehot_y and c > 1
    if label_map:
        if y.shape == (b, 1, *spatial):
            y, squeeze = y[:, 0], True
        elif y.shape == (b, c, *spatial):
            raise ValueError(f"target has the input's shape {tuple(y.shape)}, a one-hot or soft target, but "
                             "to_onehot_y=True expects a label map (B, 1, *S): pass to_onehot_y=False for a one-hot "
                             "target, or give the label map")
        elif y.shape != (b, *spatial):
            raise ValueError(f"target must be a label map of shape (B, 1, *S) = {(b, 1, *spatial)} or (B, *S) with "
                             f"to_onehot_y=True, got shape {tuple(y.shape)}")
        integral = y.is_floating_point()
        labels, invalid = _label_map(y, opts.ignore_index, c, integral, compiling)
    else:
        if y.shape != x.shape:
            hint = " (set to_onehot_y=True for a label map)" if y.shape[1:2] == (1,) and c > 1 else ""
            raise ValueError(f"target must have the input's shape {tuple(x.shape)}{hint}, got {tuple(y.shape)}")
        integral = opts.to_onehot_y and y.is_floating_point()
        dense, invalid = _dense_target(y, x, opts, integral, compiling)

    valid, dense = _validity(x, opts, dense, invalid, mask, compiling)
    # ---- channels and class weights (made once per options, C and device)
    channels, weight = _selection(c, labels is not None, opts, x, compiling)
    prep = PreparedInput(input=x, options=opts, labels=labels, dense=dense, valid=valid, channels=channels,
                         weight=weight)
    return prep, _Plan(cast, squeeze, integral, label_map, channels, weight, prep.static)
