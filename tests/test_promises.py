"""The promises of docs/ARCHITECTURE.md §3, checked for every registered loss over its case table
(``tests/cases/*.py``).

For each case, in 2D and 3D: a finite loss with finite gradients; a perfect prediction attains the documented minimum
and lies below a random prediction; float64 ``gradcheck`` on tiny inputs; a batch whose every voxel is ignored (by a
zero ``mask`` and by ``ignore_index``) gives exactly 0 with a zero gradient; bf16 CPU autocast gives a finite float32
loss within 1e-2 relative of float32. A few bad inputs are checked for every key here; the full bad-input matrix of
the region losses is in ``test_bad_input.py``.
"""

from __future__ import annotations

import pytest
import torch

from monai_segloss import available_losses, get_loss
from tests.cases import Case, collect_cases, make_input

CASES = collect_cases()
SPATIAL = {2: (5, 4), 3: (4, 3, 3)}
TINY = {2: (3, 2), 3: (2, 2, 2)}
BATCH = 2
IGNORE = 255


def _params(filter_fn=None):
    out = []
    for key in sorted(CASES):
        for i, case in enumerate(CASES[key]):
            if filter_fn is not None and not filter_fn(case):
                continue
            for dim in case.dims:
                out.append(pytest.param(key, case, dim, id=f"{key}-{i}-{case.id}-{dim}d"))
    return out


def _extra(case: Case, x: torch.Tensor, target: torch.Tensor) -> dict:
    return {} if case.extra is None else dict(case.extra(x, target))


def _run(key: str, case: Case, x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
         extra: dict | None = None) -> torch.Tensor:
    loss_fn = get_loss(key, **case.kwargs)
    extra = _extra(case, x, target) if extra is None else extra
    if mask is not None:
        extra = {**extra, "mask": mask}
    return loss_fn(x, target, **extra)


def test_every_registered_key_has_a_case():
    registered = set(available_losses())
    missing = sorted(registered - set(CASES))
    assert not missing, f"registered losses without a promise case (add them to tests/cases/<family>.py): {missing}"
    unknown = sorted(set(CASES) - registered)
    assert not unknown, f"case tables name keys that are not registered: {unknown}"
    assert all(len(v) > 0 for v in CASES.values())


def test_region_keys_are_registered():
    for key in ("dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
                "sensitivity_specificity"):
        assert key in available_losses()


@pytest.mark.parametrize("key,case,dim", _params())
def test_finite_loss_and_gradients(key, case, dim):
    x, target, _ = make_input(case, BATCH, SPATIAL[dim], seed=dim)
    x.requires_grad_(True)
    loss = _run(key, case, x, target)
    assert torch.isfinite(loss).all(), loss
    loss.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0, "a random prediction gets no gradient at all"


@pytest.mark.parametrize("key,case,dim", _params(lambda c: c.minimum is not None))
def test_perfect_prediction_is_the_minimum(key, case, dim):
    perfect, target, _ = make_input(case, BATCH, SPATIAL[dim], seed=10 + dim, perfect=True)
    rand, _, _ = make_input(case, BATCH, SPATIAL[dim], seed=10 + dim)
    perfect.requires_grad_(True)
    best = _run(key, case, perfect, target)
    worse = _run(key, case, rand, target)
    torch.testing.assert_close(best.detach(), torch.full_like(best, case.minimum), rtol=0, atol=case.min_atol)
    assert best.sum().item() < worse.sum().item() - 1e-3, (best, worse)
    best.sum().backward()
    assert torch.isfinite(perfect.grad).all()


@pytest.mark.parametrize("key,case,dim", _params(lambda c: c.minimum is not None and c.target != "soft"))
def test_perfect_prediction_with_an_empty_sample_is_the_minimum(key, case, dim):
    """The last sample has no foreground voxel: its empty units must not lift a perfect prediction off the
    minimum, whatever the empty policy."""
    perfect, target, dense = make_input(case, BATCH, SPATIAL[dim], seed=60 + dim, perfect=True, empty_last=True)
    assert dense[-1, 1:].sum() == 0 if case.mode == "multiclass" else dense[-1].sum() == 0
    perfect.requires_grad_(True)
    best = _run(key, case, perfect, target)
    torch.testing.assert_close(best.detach(), torch.full_like(best, case.minimum), rtol=0, atol=case.min_atol)
    best.sum().backward()
    assert torch.isfinite(perfect.grad).all()


@pytest.mark.parametrize("key,case,dim", _params(lambda c: c.gradcheck))
def test_gradcheck_float64(key, case, dim):
    x, target, _ = make_input(case, BATCH, TINY[dim], seed=20 + dim)
    x = x.double().requires_grad_(True)
    if target.is_floating_point():
        target = target.double()
    loss_fn = get_loss(key, **case.kwargs)
    extra = _extra(case, x.detach(), target)
    assert loss_fn(x, target, **extra).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda inp: loss_fn(inp, target, **extra), (x,), eps=1e-6, atol=1e-5,
                                    rtol=1e-3)


def _assert_zero_loss_and_grad(loss: torch.Tensor, x: torch.Tensor) -> None:
    assert not torch.isnan(loss).any()
    assert torch.equal(loss.detach(), torch.zeros_like(loss)), loss
    loss.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.zeros_like(x.grad)), x.grad.abs().max()


@pytest.mark.parametrize("key,case,dim", _params())
def test_all_ignored_by_mask_gives_zero(key, case, dim):
    x, target, _ = make_input(case, BATCH, SPATIAL[dim], seed=30 + dim)
    x.requires_grad_(True)
    mask = torch.zeros(BATCH, 1, *SPATIAL[dim])
    _assert_zero_loss_and_grad(_run(key, case, x, target, mask=mask), x)


@pytest.mark.parametrize("key,case,dim", _params())
def test_all_ignored_by_ignore_index_gives_zero(key, case, dim):
    ignore = case.kwargs.get("ignore_index", IGNORE)
    x, target, _ = make_input(case, BATCH, SPATIAL[dim], seed=40 + dim)
    x.requires_grad_(True)
    extra = _extra(case, x.detach(), target)  # computed from the un-ignored target
    ignored = torch.full_like(target, ignore)
    loss_fn = get_loss(key, **{**case.kwargs, "ignore_index": ignore})
    _assert_zero_loss_and_grad(loss_fn(x, ignored, **extra), x)


@pytest.mark.parametrize("key,case,dim", _params())
def test_bf16_autocast_close_to_float32(key, case, dim):
    x, target, _ = make_input(case, BATCH, SPATIAL[dim], seed=50 + dim)
    ref = _run(key, case, x, target)
    xb = x.bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = _run(key, case, xb, target)
    assert out.dtype == torch.float32, "statistics must be accumulated in float32 under autocast"
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.detach(), ref, rtol=1e-2, atol=1e-5)
    out.sum().backward()
    assert torch.isfinite(xb.grad.float()).all()


# ------------------------------------------------------------------ a few bad inputs, for every registered key

def _first_case(key: str) -> Case:
    return CASES[key][0]


@pytest.mark.parametrize("key", sorted(CASES))
def test_unknown_keyword_is_named(key):
    with pytest.raises(ValueError, match="definitely_not_an_option"):
        get_loss(key, **_first_case(key).kwargs, definitely_not_an_option=1)


@pytest.mark.parametrize("key", sorted(CASES))
def test_two_activations_rejected(key):
    rest = {k: v for k, v in _first_case(key).kwargs.items() if k not in ("sigmoid", "softmax", "other_act")}
    with pytest.raises(ValueError, match="sigmoid"):
        get_loss(key, **rest, sigmoid=True, softmax=True)


@pytest.mark.parametrize("key", sorted(CASES))
def test_non_tensor_input_rejected(key):
    case = _first_case(key)
    x, target, _ = make_input(case, BATCH, SPATIAL[2])
    extra = _extra(case, x, target)
    with pytest.raises(TypeError, match="input"):
        get_loss(key, **case.kwargs)(x.tolist(), target, **extra)


@pytest.mark.parametrize("key", sorted(CASES))
def test_spatial_mismatch_rejected(key):
    case = _first_case(key)
    x, target, _ = make_input(case, BATCH, SPATIAL[2])
    extra = _extra(case, x, target)
    with pytest.raises(ValueError, match="target"):
        get_loss(key, **case.kwargs)(x, target[..., :-1], **extra)
