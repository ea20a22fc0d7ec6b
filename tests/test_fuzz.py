"""Fuzzing every registered loss with hypothesis (issue 8 item 3).

For each registered key, two tests:

- ``valid``: a random *valid* call — one of the key's promise cases (``tests/cases``), re-shaped (B = 1-3, 1-3
  spatial dims of size 1-4, C = 1-6 where the case allows), with random input dtype (float32/64, float16,
  bfloat16), target representation and dtype (label map ``(B, 1, *S)`` or ``(B, *S)`` of several integer/float
  dtypes, one-hot of float/int/bool dtype, soft), ``mask`` (none, per voxel, broadcast, all zero), ``ignore_index``
  (none, 255, -1, a real class id, at random voxels or everywhere) and the common options the loss accepts
  (``include_background``, ``exclude_channels``, ``weight`` as list or tensor, ``reduction``, ``batch``,
  ``distributed``, smoothing, ``empty``) -> a finite loss and a finite input gradient.
- ``invalid``: a random valid call with one argument made invalid (unknown keyword, two activations, bad
  ``reduction``/``weight``/``exclude_channels``/``ignore_index``/flags/smoothing/loss-specific numbers, non-tensor,
  integer, empty or wrongly shaped ``input``, probabilities out of range, mismatched/out-of-range/non-integer/
  complex ``target``, bad ``mask``, ``softmax`` on one channel …) -> ``ValueError``/``TypeError`` whose message names
  that argument. Anything else (a raw torch ``RuntimeError``/``IndexError``, or no error at all) fails.

Tensors are tiny and built by torch from a drawn seed, so an example costs about a millisecond or two.

Example budget: ``SEGLOSS_FUZZ_PROFILE`` selects ``ci`` (default: at least ``SEGLOSS_FUZZ_EXAMPLES`` = 2400
examples in total over all tests, derandomized so CI is reproducible, no shrinking), ``dev`` (about 10 per test,
for local runs) or ``explore`` (``SEGLOSS_FUZZ_EXAMPLES`` in total, default 40000, random seeds, shrinking: run it
by hand to search for new failures, e.g. ``SEGLOSS_FUZZ_PROFILE=explore pytest tests/test_fuzz.py -x``; every
failure found becomes a test in ``tests/test_fuzz_regressions.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from monai_segloss import CompoundLoss, available_losses, get_loss, loss_class
from monai_segloss.functional.base import none_shape_of
from tests._reliability import CASES, Case, activation_of
from tests.cases import make_target, random_input

KEYS = available_losses()

# ---------------------------------------------------------------------------------------------- example budget

_PROFILE = os.environ.get("SEGLOSS_FUZZ_PROFILE", "ci")
if _PROFILE not in ("ci", "dev", "explore"):
    raise ValueError(f"SEGLOSS_FUZZ_PROFILE must be 'ci', 'dev' or 'explore', got {_PROFILE!r}")
_TOTAL = int(os.environ.get("SEGLOSS_FUZZ_EXAMPLES", {"ci": 2400, "dev": 0, "explore": 40000}[_PROFILE]))
N_TESTS = 2 * max(len(KEYS), 1)
PER_TEST = 10 if _PROFILE == "dev" and _TOTAL == 0 else max(20, math.ceil(_TOTAL / N_TESTS))

# no shrinking in CI and dev runs: a failure there is reported as found (with the example's description), without
# minutes of shrinking; ``explore`` shrinks, to turn what it finds into small regression tests
_PHASES = tuple(Phase) if _PROFILE == "explore" else tuple(p for p in Phase if p != Phase.shrink)
FUZZ = settings(max_examples=PER_TEST, deadline=None, derandomize=_PROFILE != "explore", print_blob=True,
                phases=_PHASES,
                database=None if _PROFILE != "explore" else settings.default.database,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def test_ci_budget_meets_the_issue():
    """The default (CI) profile runs at least 2,000 examples over the fuzz tests."""
    if _PROFILE == "ci" and "SEGLOSS_FUZZ_EXAMPLES" not in os.environ:
        assert PER_TEST * N_TESTS >= 2000


# ---------------------------------------------------------------------------------------------- option discovery

COMMON = {"sigmoid", "softmax", "other_act", "to_onehot_y", "include_background", "exclude_channels", "weight",
          "ignore_index", "reduction", "batch", "distributed", "smooth_nr", "smooth_dr", "empty"}


def option_defaults(key: str) -> dict[str, Any]:
    """Keyword -> default of the loss's options (its options dataclass, else its constructor's named parameters)."""
    cls = loss_class(key)
    opts = getattr(cls, "options_cls", None)
    if opts is not None and dataclasses.is_dataclass(opts):
        return {f.name: f.default for f in dataclasses.fields(opts)}
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def reductions(key: str) -> tuple[str, ...]:
    """The reductions a loss supports: the values of its options' ``reduction`` annotation."""
    return typing.get_args(typing.get_type_hints(loss_class(key).options_cls)["reduction"])


# ---------------------------------------------------------------------------------------------- examples

@dataclass
class Example:
    key: str
    case: Case
    kwargs: dict[str, Any]
    x: Any
    target: Any
    mask: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    dims: int = 2
    channels: int = 1
    kept: list[int] = field(default_factory=list)
    label_map: bool = False

    def describe(self) -> str:
        def t(v: Any) -> str:
            return f"{type(v).__name__}{tuple(v.shape)} {v.dtype}" if isinstance(v, torch.Tensor) else repr(v)[:80]

        return (f"key={self.key} case={self.case.id} kwargs={self.kwargs} input={t(self.x)} target={t(self.target)} "
                f"mask={t(self.mask)} extra={sorted(self.extra)}")

    def run(self) -> torch.Tensor:
        fwd = dict(self.extra)
        if self.mask is not None:
            fwd["mask"] = self.mask
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="distributed=True but torch.distributed is not initialised")
            return get_loss(self.key, **self.kwargs)(self.x, self.target, **fwd)


def _draw_bool(data: st.DataObject, p_true: float = 0.5) -> bool:
    return data.draw(st.floats(0, 1)) < p_true


def draw_valid(data: st.DataObject, key: str) -> Example:
    """A random valid call of loss ``key``."""
    case: Case = data.draw(st.sampled_from(CASES[key]), label="case")
    defaults = option_defaults(key)
    kw = dict(case.kwargs)
    free = {n for n in COMMON if n in defaults and n not in kw}  # common options we may set
    # 1-3 spatial dims, unless the case is written for some only (e.g. a spacing of one value per dim)
    dims = data.draw(st.sampled_from((1, 2, 3) if {2, 3} <= set(case.dims) else case.dims), label="dims")
    b = data.draw(st.integers(1, 3), label="B")
    spatial = tuple(data.draw(st.integers(1, 4), label=f"S{i}") for i in range(dims))
    locked = case.mode == "binary" or case.extra is not None or \
        any(isinstance(v, (list, tuple, torch.Tensor)) for v in kw.values())
    c = case.channels if locked else data.draw(st.integers(2, 6), label="C")
    case_c = dataclasses.replace(case, channels=c)
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1), label="seed"))
    target, dense = make_target(case_c, b, spatial, gen, empty_last=_draw_bool(data, 0.2))
    x = random_input(case_c, dense, gen)
    act = activation_of(kw)
    if act in ("sigmoid", "softmax"):
        x = x * data.draw(st.sampled_from([1.0, 0.01, 10.0, 50.0]), label="logit scale")
    label_map = case.target == "label" and c > 1

    # ---- target representation (only where no extra forward argument is derived from it)
    if case.extra is None:
        if case.target == "label":
            dt = data.draw(st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.float32]), label="ydtype")
            target = target.to(dt)
            if c > 1 and _draw_bool(data, 0.3):
                target = target[:, 0]
        elif case.target == "onehot":
            dt = data.draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]),
                           label="ydtype")
            target = target.to(dt)
        else:
            target = target.to(data.draw(st.sampled_from([torch.float32, torch.float64, torch.float16])))

    # ---- ignore_index
    ignore = None
    if "ignore_index" in free and case.extra is None and _draw_bool(data, 0.4):
        # a real class id leaves that class unscored with a label map: not with a case's fixed-length per-class
        # option (weight, alpha ...), whose length would no longer match
        per_class = any(isinstance(v, (list, tuple, torch.Tensor)) for v in case.kwargs.values())
        real = [] if label_map and per_class else \
            [int(data.draw(st.integers(0, c - 1)))] if label_map else [0, 1]
        choices = [255, -1] + real
        ignore = data.draw(st.sampled_from(choices), label="ignore_index")
        where = torch.rand(dense.shape[:1] + dense.shape[2:], generator=gen) < \
            data.draw(st.sampled_from([0.25, 1.0]), label="ignored fraction")
        if ignore < 0 or ignore > 1 or target.dtype == torch.bool:
            target = target.long() if target.dtype in (torch.uint8, torch.bool, torch.int32) or not \
                target.is_floating_point() else target
        if label_map:
            tv = target if target.ndim == x.ndim - 1 else target[:, 0]
            tv = tv.masked_fill(where, ignore)
            target = tv if target.ndim == x.ndim - 1 else tv.unsqueeze(1)
        else:
            target = target.masked_fill(where.unsqueeze(1), ignore)
        kw["ignore_index"] = ignore

    # ---- channels scored
    excluded: set[int] = set(kw.get("exclude_channels", ()))
    if kw.get("include_background", True) is False:
        excluded.add(0)
    if "weight" in kw:  # a case's fixed-length weight fixes the scored channels too
        free -= {"include_background", "exclude_channels"}
    if c > 1 and "include_background" in free and _draw_bool(data, 0.3):
        kw["include_background"] = False
        excluded.add(0)
    if c > 1 and "exclude_channels" in free and _draw_bool(data, 0.3):
        ex = data.draw(st.lists(st.integers(0, c - 1), max_size=c - 1, unique=True), label="exclude_channels")
        kw["exclude_channels"] = ex
        excluded |= set(ex)
    if label_map and ignore is not None and 0 <= ignore < c:
        excluded.add(ignore)
    kept = [i for i in range(c) if i not in excluded]
    if not kept:  # nothing left to score would be invalid: undo the fuzzer's own exclusions (keep the case's)
        for name in ("exclude_channels", "include_background"):
            if name in case.kwargs:
                kw[name] = case.kwargs[name]
            else:
                kw.pop(name, None)
        excluded = set(case.kwargs.get("exclude_channels", ())) | (
            {0} if case.kwargs.get("include_background", True) is False else set())
        if label_map and ignore is not None and 0 <= ignore < c:
            excluded.add(ignore)
        kept = [i for i in range(c) if i not in excluded]
        if not kept:
            kw.pop("ignore_index")
            target = make_target(case_c, b, spatial, gen)[0].to(target.dtype if target.dtype != torch.bool
                                                                 else torch.int64)
            kept = [i for i in range(c) if i not in excluded - {ignore}]
            ignore = None

    # ---- other common options
    if "weight" in free and _draw_bool(data, 0.3):
        # dice_ce: length C, as MONAI's DiceCELoss (its cross-entropy term scores every class)
        n = c if key == "dice_ce" else data.draw(st.sampled_from([c, len(kept)]), label="weight length")
        w = [data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])) for _ in range(n)]
        kw["weight"] = torch.tensor(w) if _draw_bool(data, 0.3) else w
    if "reduction" in free:
        kw["reduction"] = data.draw(st.sampled_from(reductions(key)), label="reduction")
    if "batch" in free and _draw_bool(data, 0.3):
        kw["batch"] = True
        if "distributed" in free and _draw_bool(data, 0.2):
            kw["distributed"] = True  # no process group here: falls back to local statistics (warned)
    if "empty" in free:
        kw["empty"] = data.draw(st.sampled_from(["smooth", "skip", "fp"]), label="empty")
    if "smooth_nr" in free and _draw_bool(data, 0.2):
        kw["smooth_nr"] = data.draw(st.sampled_from([0.0, 1e-5, 1.0]))
    if "smooth_dr" in free and _draw_bool(data, 0.2):
        kw["smooth_dr"] = data.draw(st.sampled_from([0.0, 1e-5, 1.0]))

    # ---- mask
    mask = None
    kind = data.draw(st.sampled_from(["none", "none", "voxel", "broadcast-batch", "broadcast-space", "zero"]),
                     label="mask")
    if kind == "voxel":
        mask = torch.rand(b, 1, *spatial, generator=gen) < 0.7
    elif kind == "broadcast-batch":
        mask = torch.rand(1, 1, *spatial, generator=gen) < 0.7
    elif kind == "broadcast-space":
        mask = (torch.rand(b, 1, *([1] * dims), generator=gen) < 0.7)
    elif kind == "zero":
        mask = torch.zeros(b, 1, *spatial)
    if mask is not None and _draw_bool(data, 0.5):
        mask = mask.float()

    # ---- input dtype
    xdt = data.draw(st.sampled_from([torch.float32, torch.float32, torch.float64, torch.float16, torch.bfloat16]),
                    label="xdtype")
    x = x.to(xdt)
    if act == "none":
        x = x.clamp(0, 1)  # rounding to a low-precision type keeps probabilities in [0, 1]
    x.requires_grad_(True)
    extra = {} if case.extra is None else dict(case.extra(x, target))
    return Example(key, case, kw, x, target, mask, extra, dims, c, kept, label_map)


def _over_batch(loss) -> bool:
    """One unit per class over the batch: the options' ``batch`` (Lovász: ``per_image=False``)."""
    return bool(getattr(loss.options, "batch", False))


def _names_in(err: BaseException, names: tuple[str, ...]) -> bool:
    msg = str(err)
    return any(n in msg for n in names)


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_valid_input_gives_finite_loss_and_gradient(key, data):
    ex = draw_valid(data, key)
    note(ex.describe())
    try:
        loss = ex.run()
    except (ValueError, TypeError) as err:
        if ex.dims not in ex.case.dims and _names_in(err, ("spatial", "dim")):
            note(f"{ex.dims}D input declined by a loss whose cases run {ex.case.dims}: {err}")
            return
        raise AssertionError(f"valid input rejected: {type(err).__name__}: {err}\n{ex.describe()}") from err
    assert isinstance(loss, torch.Tensor) and loss.is_floating_point()
    assert torch.isfinite(loss).all(), f"non-finite loss {loss}\n{ex.describe()}"
    if ex.kwargs.get("reduction", "mean") == "none":  # the shape its functional form declares
        shape = loss_class(key).function.none_shape
        assert shape is not None, f"{key} allows reduction='none' without declaring its none_shape"
        expected = none_shape_of(shape, tuple(ex.x.shape), len(ex.kept), _over_batch(get_loss(ex.key, **ex.kwargs)))
        assert tuple(loss.shape) == expected, f"'none' shape {tuple(loss.shape)}, expected {expected}\n{ex.describe()}"
    else:
        assert loss.shape == (), f"{ex.kwargs.get('reduction', 'mean')!r} gave shape {tuple(loss.shape)}"
    if loss.requires_grad:
        loss.sum().backward()
        assert ex.x.grad is not None and torch.isfinite(ex.x.grad).all(), f"non-finite gradient\n{ex.describe()}"


# ---------------------------------------------------------------------------------------------- invalid arguments

Mutation = Callable[[Example, st.DataObject], tuple[str, ...]]  # mutates the example, returns accepted names
MUTATIONS: dict[str, tuple[Callable[[Example, dict], bool], Mutation]] = {}


def mutation(applies: Callable[[Example, dict], bool]):
    def deco(fn: Mutation) -> Mutation:
        MUTATIONS[fn.__name__] = (applies, fn)
        return fn
    return deco


def _has(*names: str) -> Callable[[Example, dict], bool]:
    return lambda ex, d: all(n in d for n in names)


def _always(ex: Example, d: dict) -> bool:
    return True


@mutation(_always)
def unknown_keyword(ex, data):
    ex.kwargs["not_an_option"] = 1
    return ("not_an_option",)


@mutation(_has("sigmoid", "softmax"))
def two_activations(ex, data):
    ex.kwargs.update(sigmoid=True, softmax=True)
    return ("sigmoid", "softmax")


@mutation(_has("other_act"))
def other_act_not_callable(ex, data):
    bad = data.draw(st.sampled_from(["relu", 1, lambda t: t.tolist(), lambda t: t.detach().numpy()]))
    ex.kwargs.update(sigmoid=False, softmax=False, other_act=bad)
    if ex.key == "dice_ce":  # its cross-entropy term follows the activation: pos_weight belongs to sigmoid's
        ex.kwargs.pop("pos_weight", None)
    if isinstance(ex.kwargs.get("alpha"), (list, tuple)):  # a per-class alpha's length follows the activation too
        ex.kwargs.pop("alpha")
    return ("other_act",)


@mutation(_has("reduction"))
def bad_reduction(ex, data):
    unsupported = [r for r in ("mean", "sum", "none") if r not in reductions(ex.key)]  # "none" of the presets
    ex.kwargs["reduction"] = data.draw(st.sampled_from(["avg", "", None, 1, "MEAN", *unsupported]))
    return ("reduction",)


@mutation(_has("weight"))
def bad_weight(ex, data):
    kind = data.draw(st.sampled_from(["length", "negative", "nan", "inf", "string", "2d", "empty", "nonnumber"]))
    c = ex.channels
    ex.kwargs["weight"] = {"length": [1.0] * (c + 1), "negative": [-1.0] + [1.0] * (c - 1),
                           "nan": [math.nan] * c, "inf": [math.inf] * c, "string": "balanced",
                           "2d": torch.ones(1, c), "empty": [], "nonnumber": ["a"] * c}[kind]
    return ("weight",)


@mutation(_has("exclude_channels"))
def bad_exclude_channels(ex, data):
    kind = data.draw(st.sampled_from(["out of range", "negative", "all", "string", "float", "0-d tensor", "int"]))
    c = ex.channels
    if kind == "all" and c == 1:
        kind = "out of range"
    ex.kwargs.pop("include_background", None)
    ex.kwargs["exclude_channels"] = {"out of range": [c], "negative": [-1], "all": list(range(c)), "string": "0",
                                     "float": [0.5], "0-d tensor": torch.tensor(0), "int": 0}[kind]
    return ("exclude_channels",)


@mutation(lambda ex, d: "include_background" in d and ex.channels == 1)
def no_background_on_one_channel(ex, data):
    ex.kwargs["include_background"] = False
    return ("include_background",)


@mutation(lambda ex, d: "softmax" in d and ex.channels == 1)
def softmax_on_one_channel(ex, data):
    ex.kwargs.update(sigmoid=False, softmax=True)
    return ("softmax",)


@mutation(_has("ignore_index"))
def bad_ignore_index(ex, data):
    ex.kwargs["ignore_index"] = data.draw(st.sampled_from([1.5, "255", True, [255]]))
    return ("ignore_index",)


@mutation(_always)
def bad_flag(ex, data):
    flags = [n for n, v in option_defaults(ex.key).items() if isinstance(v, bool)]
    if not flags:
        return unknown_keyword(ex, data)
    name = data.draw(st.sampled_from(sorted(flags)))
    ex.kwargs[name] = data.draw(st.sampled_from([1, "yes", None]))
    return (name,)


@mutation(_has("smooth_nr", "smooth_dr"))
def bad_smoothing(ex, data):
    name = data.draw(st.sampled_from(["smooth_nr", "smooth_dr"]))
    ex.kwargs[name] = data.draw(st.sampled_from([-1e-5, math.nan, math.inf, "1e-5"]))
    return (name,)


@mutation(_has("empty"))
def bad_empty(ex, data):
    ex.kwargs["empty"] = data.draw(st.sampled_from(["ignore", None, 0]))
    return ("empty",)


@mutation(_has("distributed", "batch"))
def distributed_without_batch(ex, data):
    ex.kwargs.update(distributed=True, batch=False)
    return ("batch", "distributed")


def _own_numbers(ex: Example, d: dict) -> list[str]:
    return sorted(n for n, v in d.items() if n not in COMMON and isinstance(v, float) and not isinstance(v, bool))


@mutation(lambda ex, d: bool(_own_numbers(ex, d)))
def bad_loss_number(ex, data):
    name = data.draw(st.sampled_from(_own_numbers(ex, option_defaults(ex.key))))
    ex.kwargs[name] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, "0.5", None]))
    return (name,)


@mutation(_always)
def input_not_tensor(ex, data):
    kind = data.draw(st.sampled_from(["numpy", "list", "none"]))
    ex.x = {"numpy": ex.x.detach().float().numpy(), "list": ex.x.detach().tolist(), "none": None}[kind]
    ex.extra = {}
    return ("input",)


@mutation(_always)
def input_integer(ex, data):
    ex.x = ex.x.detach().round().to(data.draw(st.sampled_from([torch.int64, torch.uint8, torch.bool])))
    return ("input",)


@mutation(_always)
def input_bad_ndim(ex, data):
    x = ex.x.detach()
    ex.x = x.flatten(1) if data.draw(st.booleans()) else x.reshape(*x.shape, 1, 1, 1, 1)[..., :1, :1, :1, :1]
    if ex.x.ndim == 3:  # (B, C*S) flattened to 1 spatial dim would be valid: go to (B,)
        ex.x = x.flatten()
    return ("input",)


@mutation(_always)
def input_empty(ex, data):
    ex.x = ex.x.detach()[:0]
    return ("input",)


@mutation(lambda ex, d: activation_of(ex.kwargs) == "none")
def probabilities_out_of_range(ex, data):
    x = ex.x.detach().contiguous().clone()
    x.view(-1)[0] = data.draw(st.sampled_from([1.5, -0.25, math.nan, math.inf]))
    ex.x = x
    return ("input",)


@mutation(_always)
def target_not_tensor(ex, data):
    ex.target = data.draw(st.sampled_from([None, "label", 1]))
    ex.extra = {}
    return ("target",)


@mutation(_always)
def target_shape_mismatch(ex, data):
    t = ex.target
    kind = data.draw(st.sampled_from(["spatial", "batch", "channels"]))
    if kind == "spatial":
        t = torch.cat([t, t[..., :1]], dim=-1)
    elif kind == "batch":
        t = torch.cat([t, t[:1]], dim=0)
    else:
        if ex.label_map:
            t = (t if t.ndim == ex.x.ndim else t.unsqueeze(1)).repeat(1, 2, *([1] * ex.dims))
        else:
            t = torch.cat([t, t[:, :1]], dim=1)
    ex.target = t
    return ("target",)


@mutation(lambda ex, d: ex.label_map)
def label_out_of_range(ex, data):
    t = ex.target.long().contiguous().clone()
    t.view(-1)[0] = data.draw(st.sampled_from([ex.channels, ex.channels + 7, -2]))
    if ex.kwargs.get("ignore_index") is not None and int(t.view(-1)[0]) == ex.kwargs["ignore_index"]:
        t.view(-1)[0] = ex.channels + 1
    ex.target = t
    return ("target",)


@mutation(lambda ex, d: ex.label_map or (ex.case.target == "label" and ex.kwargs.get("to_onehot_y", False)))
def label_not_integer(ex, data):
    t = ex.target.float().contiguous().clone()
    t.view(-1)[0] = 0.5
    ex.target = t
    return ("target",)


@mutation(lambda ex, d: not ex.label_map)
def dense_target_out_of_range(ex, data):
    t = ex.target.float().contiguous().clone()
    t.view(-1)[0] = data.draw(st.sampled_from([2.0, -0.5, 1.0001, math.nan]))
    if ex.kwargs.get("ignore_index") is not None:
        ex.kwargs.pop("ignore_index")
        t = t.clamp(0, 1).contiguous()
        t.view(-1)[0] = 2.0
    ex.target = t
    return ("target",)


@mutation(_always)
def target_complex(ex, data):
    ex.target = ex.target.to(torch.complex64)
    ex.extra = {}
    return ("target",)


@mutation(_always)
def bad_mask(ex, data):
    b, spatial = ex.x.shape[0], tuple(ex.x.shape[2:])
    kind = data.draw(st.sampled_from(["spatial", "batch", "list"]))
    ex.mask = {"spatial": torch.ones(b, 1, *[s + 1 for s in spatial]),
               "batch": torch.ones(b + 1, 1, *spatial),
               "list": [1.0]}[kind]
    return ("mask",)


@pytest.mark.parametrize("key", KEYS)
@FUZZ
@given(data=st.data())
def test_invalid_input_raises_naming_the_argument(key, data):
    """Each example: one random valid call, then every applicable mutation of it, one at a time."""
    ex = draw_valid(data, key)
    defaults = option_defaults(key)
    names = sorted(n for n, (applies, _) in MUTATIONS.items() if applies(ex, defaults))
    for name in names:
        bad = dataclasses.replace(ex, kwargs=dict(ex.kwargs), extra=dict(ex.extra))
        expected = MUTATIONS[name][1](bad, data) + tuple(bad.extra)
        context = f"mutation {name}: expected a ValueError/TypeError naming one of {expected}\n{bad.describe()}"
        try:
            loss = bad.run()
        except (ValueError, TypeError) as err:
            assert _names_in(err, expected), f"{type(err).__name__} does not name {expected}: {err}\n{context}"
            continue
        except Exception as err:
            raise AssertionError(f"raw {type(err).__name__} from inside: {err}\n{context}") from err
        raise AssertionError(f"no error, loss = {loss}\n{context}")


# ---------------------------------------------------------------------------------------------- compound losses

SOFTMAX_LABEL = {"softmax": True, "to_onehot_y": True}
#: the keys that take a softmax input and a label map as they are (terms of one compound loss on the same tensors)
COMPOUND_POOL = sorted(k for k in KEYS if any(c.kwargs == SOFTMAX_LABEL and c.extra is None for c in CASES[k]))


@FUZZ
@given(data=st.data())
def test_compound_loss_every_reduction(data):
    """CompoundLoss of 1-3 random terms (presets included), each with a reduction: different reductions, or
    ``"none"`` over terms of different output shapes, are refused at construction with a ValueError naming
    ``reduction``; otherwise the result has the common shape (a scalar for ``"mean"``/``"sum"``, the terms' shape
    for ``"none"``), equals the weighted sum of the terms, and has a finite gradient. A preset's own ``"none"`` is
    refused naming its supported values."""
    keys = data.draw(st.lists(st.sampled_from(COMPOUND_POOL), min_size=1, max_size=3), label="terms")
    if data.draw(st.booleans(), label="one reduction"):
        reds = [data.draw(st.sampled_from(("mean", "sum", "none")), label="reduction")] * len(keys)
    else:
        reds = [data.draw(st.sampled_from(("mean", "sum", "none"))) for _ in keys]
    batch = data.draw(st.booleans(), label="batch")
    weights = [data.draw(st.sampled_from([0.0, 0.5, 2.0])) for _ in keys]
    b, c = data.draw(st.integers(1, 2), label="B"), data.draw(st.integers(2, 4), label="C")
    spatial = tuple(data.draw(st.integers(2, 4)) for _ in range(data.draw(st.integers(1, 3), label="dims")))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1), label="seed"))
    x = torch.randn(b, c, *spatial, generator=gen).requires_grad_(True)
    y = torch.randint(0, c, (b, 1, *spatial), generator=gen)
    terms = []
    for key, red in zip(keys, reds, strict=True):
        kw = {**SOFTMAX_LABEL, "reduction": red, **({"batch": True} if batch and "batch" in option_defaults(key)
                                                    else {})}
        if red not in reductions(key):
            with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\)"):
                get_loss(key, **kw)
            return
        terms.append(get_loss(key, **kw))
    specs = [{"loss": t, "weight": w} for t, w in zip(terms, weights, strict=True)]
    note(f"terms={keys} reductions={reds} batch={batch} x={tuple(x.shape)}")
    shapes = {(t.function.none_shape, t.function.none_shape != "voxels" and _over_batch(t)) for t in terms}
    if len(set(reds)) > 1 or (reds[0] == "none" and len(shapes) > 1):
        with pytest.raises(ValueError, match="reduction"):
            CompoundLoss(specs)
        return
    loss = CompoundLoss(specs)
    value = loss(x, y)
    expected = sum(w * t(x, y) for t, w in zip(terms, weights, strict=True))
    torch.testing.assert_close(value, expected)
    if reds[0] == "none":
        shape, per_class = shapes.pop()
        assert tuple(value.shape) == none_shape_of(shape, tuple(x.shape), c, per_class)
    else:
        assert value.shape == ()
    value.sum().backward()
    assert torch.isfinite(x.grad).all()
