"""Mixed precision (issue 8 item 2), for every registered loss and each of its promise cases.

- A network head run under CPU autocast (bf16, and fp16 where CPU autocast supports it) feeds the loss its
  low-precision output, as in real training; the loss, computed inside the autocast region, is finite, float32,
  and within 1e-2 relative of the float32 loss of the same values (the loss's own arithmetic) and of the same
  network run in float32 (end to end, for every loss whose value is continuous in its input), and the head's weight
  gradient is finite and points the same way as the float32 one.
- Extreme logits (±1e4 in float32, ±6e4 in float16 — near float16's largest finite value 65504), both correct
  and wrong, give a finite loss and a finite gradient.
"""

from __future__ import annotations

import pytest
import torch

from tests._reliability import Case, activation_of, call, case_params, make_input

SPATIAL = {1: (7,), 2: (5, 4), 3: (4, 3, 3)}


def _autocast_dtypes() -> list[torch.dtype]:
    dtypes = [torch.bfloat16]
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            ok = torch.nn.functional.conv1d(torch.ones(1, 1, 2), torch.ones(1, 1, 1)).dtype == torch.float16
    except (RuntimeError, ValueError):  # an older torch without fp16 CPU autocast
        ok = False
    if ok:
        dtypes.append(torch.float16)
    return dtypes


AUTOCAST = [pytest.param(d, id=str(d).removeprefix("torch.")) for d in _autocast_dtypes()]


def _identity_head(c: int, dim: int) -> torch.nn.Module:
    """A 1x1 convolution initialised to the identity: its float32 output is its input, exactly."""
    conv = getattr(torch.nn, f"Conv{dim}d")(c, c, kernel_size=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight.view(c, c).copy_(torch.eye(c))
        conv.bias.zero_()
    return conv


def _head_output(case: Case, head: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The head's output as the loss expects it: logits with an activation, probabilities otherwise."""
    out = head(z)
    if activation_of(case.kwargs) != "none":
        return out
    return torch.softmax(out, dim=1) if case.mode == "multiclass" else torch.sigmoid(out)


def _features(case: Case, x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_head_output`'s activation: the head input that reproduces ``x``."""
    if activation_of(case.kwargs) != "none":
        return x
    x = x.clamp(1e-4, 1 - 1e-4)
    return torch.log(x) if case.mode == "multiclass" else torch.logit(x)


#: losses whose value is discontinuous in the input by design, so that rounding the network output to bf16/fp16 may
#: move it by more than 1e-2 on the few voxels of a test (their loss arithmetic is still checked exactly below).
DISCONTINUOUS = {
    "structural_similarity": "CE over the voxels whose structural error exceeds β·max (Zhao 2019): a voxel crossing "
                             "the threshold under input rounding changes the selection and its count",
}


def _run_head(key: str, case: Case, dim: int, dtype: torch.dtype | None):
    """(loss, head input, head, head output) with the head run under autocast to ``dtype`` (float32 when None)."""
    x, target, _ = make_input(case, 2, SPATIAL[dim], seed=70 + dim)
    z = _features(case, x)
    head = _identity_head(case.channels, dim)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = _head_output(case, head, z)
        loss = call(key, case, out, target)
    return loss, target, head, out


@pytest.mark.parametrize("dtype", AUTOCAST)
@pytest.mark.parametrize("key,case,dim", case_params())
def test_autocast_loss_matches_float32_on_the_same_input(key, case, dim, dtype):
    """The loss's own arithmetic: computed inside the autocast region on the low-precision output, it is float32 and
    within 1e-2 relative of the float32 loss of the same (rounded) values."""
    loss, target, _, out = _run_head(key, case, dim, dtype)
    assert out.dtype == dtype  # the loss really receives low-precision input
    assert loss.dtype == torch.float32, "statistics and losses must be accumulated in float32 under autocast"
    assert torch.isfinite(loss).all(), loss
    ref = call(key, case, out.detach().float(), target)
    torch.testing.assert_close(loss.detach(), ref, rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize("dtype", AUTOCAST)
@pytest.mark.parametrize("key,case,dim", case_params())
def test_autocast_network_close_to_float32(key, case, dim, dtype):
    """End to end: the network and the loss under autocast against both in float32: the loss within 1e-2 relative
    (except the losses in ``DISCONTINUOUS``), the head's weight gradient finite and in the float32 direction."""
    ref, _, head32, _ = _run_head(key, case, dim, None)
    ref.sum().backward()
    loss, _, head, _ = _run_head(key, case, dim, dtype)
    assert torch.isfinite(loss).all(), loss
    if key not in DISCONTINUOUS:
        torch.testing.assert_close(loss.detach(), ref.detach(), rtol=1e-2, atol=1e-4)
    loss.sum().backward()
    g, g32 = head.weight.grad, head32.weight.grad
    assert torch.isfinite(g).all()
    if g32.norm() > 1e-3 and key not in DISCONTINUOUS:
        cos = torch.nn.functional.cosine_similarity(g.flatten(), g32.flatten(), dim=0)
        assert cos > 0.98, f"low-precision gradient direction off: cosine {float(cos):.4f}"


EXTREME = [pytest.param(torch.float32, 1e4, id="float32-1e4"), pytest.param(torch.float16, 6e4, id="float16-6e4")]


def _extreme_logits(case: Case, dense: torch.Tensor, magnitude: float, dtype: torch.dtype) -> torch.Tensor:
    """Sample 0: confidently right (±magnitude by the target); the others: confident random signs (mostly wrong)."""
    gen = torch.Generator().manual_seed(3)
    signs = torch.where(torch.rand(dense.shape, generator=gen) < 0.5, -1.0, 1.0)
    signs[0] = torch.where(dense[0] > 0.5, 1.0, -1.0)
    return (signs * magnitude).to(dtype)


@pytest.mark.parametrize("dtype,magnitude", EXTREME)
@pytest.mark.parametrize("key,case,dim", case_params(lambda c: activation_of(c.kwargs) in ("sigmoid", "softmax")))
def test_extreme_logits_finite(key, case, dim, dtype, magnitude):
    _, target, dense = make_input(case, 3, SPATIAL[dim], seed=90 + dim)
    x = _extreme_logits(case, dense, magnitude, dtype)
    assert torch.isfinite(x).all()
    for autocast in (False, True) if dtype == torch.float16 else (False,):
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=autocast):
            loss = call(key, case, xi, target)
        assert torch.isfinite(loss).all(), f"autocast={autocast}: {loss}"
        loss.sum().backward()
        assert xi.grad is not None and torch.isfinite(xi.grad).all(), f"autocast={autocast}: non-finite gradient"
