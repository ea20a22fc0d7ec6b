"""``torch.compile``: a compiled training step (a small network and each registered loss) runs and gives the eager
value and gradients.

The backend is ``"eager"``: Dynamo captures the graphs (with breaks around the parts it cannot trace, such as the
shared-preparation context and the host-bound geometry steps) and runs them with the eager kernels. That checks
what compiling a training step changes (tracing, guards, graph breaks, the custom autograd functions) in a few
seconds per loss; Inductor's code generation takes minutes per loss on two cores and adds kernels, not semantics
(``benchmarks/bench_compile.py`` measures it).
"""

from __future__ import annotations

import pytest
import torch

import monai_segloss as msl
from benchmarks.bench_losses import resolve_kwargs
from tests.test_no_sync import _extra


@pytest.mark.slow
@pytest.mark.parametrize("key", msl.available_losses())
def test_compiled_training_step_matches_eager(key):
    torch._dynamo.reset()
    kwargs, _, err = resolve_kwargs(key, "cpu")
    assert err is None, err
    loss = msl.get_loss(key, **kwargs)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 3, 1)).double()
    x = torch.randn(2, 1, 10, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 1, 10, 8))
    extra = _extra(key, loss, torch.zeros(2, 3, 10, 8), y)

    def step(inp, target):
        value = loss(net(inp), target, **extra)
        value.backward()
        return value.detach()

    net.zero_grad()
    eager = step(x, y)
    eager_grads = [p.grad.clone() for p in net.parameters()]
    compiled = torch.compile(step, backend="eager")
    for _ in range(2):  # the second call runs the cached graphs
        net.zero_grad()
        value = compiled(x, y)
        torch.testing.assert_close(value, eager, rtol=1e-12, atol=1e-12)
        for p, g in zip(net.parameters(), eager_grads, strict=True):
            torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)
