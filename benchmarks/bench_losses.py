"""Speed and memory of every registered loss, side by side with MONAI, torch's cross-entropy and the floor.

docs/ARCHITECTURE.md §9. For every key of ``monai_segloss.available_losses()`` and every shape (2D
``(8, C, 256, 256)``, 3D ``(2, C, 96, 96, 96)``, C = 2, 3, 14, label-map targets), forward plus backward is timed for

- ``ours``: the registered loss;
- ``monai``: its MONAI counterpart on the same tensors and options, where one exists (see :data:`SPECS`);
- ``ce``: ``torch.nn.functional.cross_entropy`` on the same logits and labels;
- ``floor``: reading the input once and writing its gradient (``x.sum()`` backward).

Timing alternates the implementations (A B C D A B C D ...) and quotes the median of the pairwise ratios, so load
from other processes hits every column alike. Peak extra memory is measured on CPU in a fresh child process per
shape (C and size; its losses one after the other): the kernel's high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs`` right before the run) minus the resident size at that moment, the minimum of a few runs.
glibc is told to return freed blocks to the system at once (``MALLOC_MMAP_THRESHOLD_``), so consecutive runs in
one child do not see each other's memory. On a GPU it is ``torch.cuda.max_memory_allocated`` above the memory
allocated before the run.

Usage::

    python benchmarks/bench_losses.py [--device cuda] [--quick] [--keys dice tversky] [--out benchmarks/results]

writes ``bench_<device>[_quick].md`` (the table) and ``.json`` (every figure) under ``--out`` (``make bench``
runs it; ``main(argv)`` is the entry point).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["main", "SPECS", "Counterpart", "run_benchmark", "render_markdown"]

# ---------------------------------------------------------------- what is compared with what

LABEL_KW: dict[str, Any] = {"softmax": True, "to_onehot_y": True}
# construction kwargs tried in order for a registered key missing from SPECS (first one that runs wins)
FALLBACK_KWARGS: list[dict[str, Any]] = [LABEL_KW, {"to_onehot_y": True}, {"sigmoid": True, "to_onehot_y": True}, {}]


@dataclass(frozen=True)
class Counterpart:
    """A MONAI loss computing the same quantity, optionally followed by a per-unit transform.

    Args:
        name: class name in ``monai.losses``.
        kwargs: its construction kwargs (same options as ours).
        post: ``None``, ``"focal"`` (``mean(l ** (1/γ))`` of ``reduction="none"`` units, γ = 4/3) or ``"log_cosh"``
            (``mean(log(cosh(l)))``): how a MONAI user would build our loss from MONAI's.
        same_value: False where the two differ by design (docs/ARCHITECTURE.md §3), so no value agreement is expected.
    """

    name: str
    kwargs: dict[str, Any]
    post: str | None = None
    same_value: bool = True

    def label(self) -> str:
        extra = {k: v for k, v in self.kwargs.items() if k not in LABEL_KW and k != "reduction"}
        args = ", ".join(f"{k}={v}" for k, v in extra.items())
        tail = {"focal": " → ^(3/4)", "log_cosh": " → log cosh"}.get(self.post or "", "")
        return f"{self.name}({args}){tail}"


_NONE = {**LABEL_KW, "reduction": "none"}
# registry key -> (our construction kwargs, MONAI counterpart or None)
SPECS: dict[str, tuple[dict[str, Any], Counterpart | None]] = {
    "dice": (LABEL_KW, Counterpart("DiceLoss", LABEL_KW)),
    "jaccard": (LABEL_KW, Counterpart("DiceLoss", {**LABEL_KW, "jaccard": True})),
    "generalized_dice": (LABEL_KW, Counterpart("GeneralizedDiceLoss", LABEL_KW)),
    "tversky": (LABEL_KW, Counterpart("TverskyLoss", {**LABEL_KW, "alpha": 0.3, "beta": 0.7})),
    "focal_tversky": (LABEL_KW, Counterpart("TverskyLoss", {**_NONE, "alpha": 0.3, "beta": 0.7}, post="focal")),
    "log_cosh_dice": (LABEL_KW, Counterpart("DiceLoss", _NONE, post="log_cosh")),
    "sensitivity_specificity": (LABEL_KW, None),
    "cross_entropy": (LABEL_KW, None),
    "focal": (LABEL_KW, Counterpart("FocalLoss", {"use_softmax": True, "to_onehot_y": True, "gamma": 2.0},
                                    same_value=False)),  # MONAI's softmax focal mean is ×C (ARCHITECTURE §3)
    "dice_ce": (LABEL_KW, Counterpart("DiceCELoss", LABEL_KW)),
    "dice_focal": (LABEL_KW, Counterpart("DiceFocalLoss", {**LABEL_KW, "gamma": 2.0}, same_value=False)),
    # MONAI's HausdorffDTLoss leaves the background out by default; ours scores it: compare on the same channels
    "hausdorff_dt": (LABEL_KW, Counterpart("HausdorffDTLoss", {**LABEL_KW, "include_background": True})),
    "boundary": (LABEL_KW, Counterpart("BoundaryLoss", LABEL_KW)),
}

# issue 7's targets: region losses on 3D label maps, time and peak-memory ratios to MONAI, value agreement
TARGET_KEYS = ("dice", "jaccard", "tversky", "focal_tversky", "generalized_dice")
TIME_TARGET = 0.9
MEM_TARGET = {3: 0.6, 14: 0.4}
VALUE_TARGET = 1e-5

FULL_SHAPES = {"2d": (8, 256, 256), "3d": (2, 96, 96, 96)}  # (B, *S)
QUICK_SHAPES = {"2d": (2, 24, 24), "3d": (1, 10, 10, 10)}
IMPLS = ("ours", "monai", "ce", "floor")


# ---------------------------------------------------------------- the runs

class _MonaiLoss(torch.nn.Module):
    """A MONAI loss plus the optional per-unit transform of its :class:`Counterpart`."""

    def __init__(self, spec: Counterpart) -> None:
        super().__init__()
        import monai.losses

        self.loss = getattr(monai.losses, spec.name)(**spec.kwargs)
        self.post = spec.post

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.loss(x, y)
        if self.post == "focal":
            return out.clamp_min(0).pow(0.75).mean()
        if self.post == "log_cosh":
            return torch.log(torch.cosh(out)).mean()
        return out


def _loss_fn(impl: str, key: str, kwargs: dict[str, Any], counterpart: Counterpart | None) -> Callable | None:
    """``f(x, y) -> scalar`` for one implementation, or None where it does not exist."""
    if impl == "ours":
        import monai_segloss

        return monai_segloss.get_loss(key, **kwargs)
    if impl == "monai":
        return None if counterpart is None else _MonaiLoss(counterpart)
    if impl == "ce":
        return lambda x, y: F.cross_entropy(x, y[:, 0])
    return lambda x, y: x.sum()  # floor: read the input once, write its gradient


def make_tensors(batch: int, channels: int, spatial: Sequence[int], device: str,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(B, C, *S)`` (leaf, requires grad) and a blobby label map ``(B, 1, *S)`` int64 (argmax of upsampled
    coarse noise, so every class forms regions as in a real segmentation)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, *spatial, generator=g)
    coarse = torch.randn(batch, channels, *[max(2, s // 16) for s in spatial], generator=g)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spatial)]
    y = F.interpolate(coarse, size=tuple(spatial), mode=mode, align_corners=False).argmax(1, keepdim=True)
    del coarse
    return x.to(device).requires_grad_(), y.to(device)


def _step(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    """One forward + backward; returns the loss value. ``x.grad`` must be None before (cleared by the caller)."""
    loss = fn(x, y)
    loss.backward()
    return float(loss.detach())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_side_by_side(fns: dict[str, Callable], x: torch.Tensor, y: torch.Tensor, min_reps: int, max_reps: int,
                      budget_s: float) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Run the implementations alternately (A B C D A B C D ...) after one warm-up each.

    Returns the per-repetition times (s) of each implementation and the loss value each computed.
    """
    values = {}
    for name, fn in fns.items():
        x.grad = None
        values[name] = _step(fn, x, y)
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    reps = 0
    while reps < max_reps and (reps < min_reps or time.perf_counter() - start < budget_s):
        for name, fn in fns.items():
            x.grad = None
            _sync(x.device)
            t0 = time.perf_counter()
            _step(fn, x, y)
            _sync(x.device)
            times[name].append(time.perf_counter() - t0)
        reps += 1
    x.grad = None
    return times, values


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not found in /proc/self/status")


def peak_extra_bytes(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> int:
    """Peak memory of one forward + backward above what was in use right before it.

    CPU: ``VmHWM`` after the run minus ``VmRSS`` before it, the high-water mark being reset to the current size
    first (``/proc/self/clear_refs``). GPU: ``torch.cuda.max_memory_allocated`` minus the allocated memory before.
    """
    x.grad = None
    if x.device.type == "cuda":
        _sync(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        base = torch.cuda.memory_allocated(x.device)
        _step(fn, x, y)
        _sync(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - base
    else:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
        _step(fn, x, y)
        peak = (_status_kib("VmHWM") - base) * 1024
    x.grad = None
    return int(peak)


def _measure_memory_cases(cases: list[dict[str, Any]], runs: int, device: str,
                          collect: bool = True) -> list[dict[str, int | str]]:
    """Peak extra bytes of each implementation of each case: minimum over ``runs`` alternated runs.

    ``collect``: run the garbage collector before each case (slow with MONAI imported; skipped by the smoke run).
    A case with a ``"factory"`` (``"module:function"``) gets its implementations from that function; one with
    ``"spread"`` also reports each implementation's largest run (``"impl:max"``).
    """
    results = []
    for case in cases:
        if collect:
            gc.collect()
        if case.get("factory"):  # another benchmark's implementations: "module:function", case -> {impl: fn}
            module, func = case["factory"].split(":")
            fns = getattr(importlib.import_module(module), func)(case)
        else:
            counterpart = Counterpart(**case["monai"]) if case["monai"] else None
            fns = {impl: _loss_fn(impl, case["key"], case["kwargs"], counterpart) for impl in case["impls"]}
        try:
            xs, ys = make_tensors(1, case["c"], [4] * len(case["spatial"]), device)  # load lazy code paths
            for fn in fns.values():
                xs.grad = None
                _step(fn, xs, ys)
            del xs, ys
            x, y = make_tensors(case["b"], case["c"], case["spatial"], device)
            best: dict[str, int | str] = {}
            for _ in range(runs):
                for impl, fn in fns.items():
                    peak = peak_extra_bytes(fn, x, y)
                    best[impl] = min(peak, best.get(impl, peak))
                    if case.get("spread"):  # the largest run too, as "impl:max"
                        best[impl + ":max"] = max(peak, best.get(impl + ":max", peak))
            del x, y
        except Exception as err:  # noqa: BLE001 - reported in the table, never hidden
            best = {"error": f"{type(err).__name__}: {err}"[:300]}
        results.append(best)
    return results


def _child_main() -> int:
    """Entry of the memory child: JSON spec on stdin, JSON result as the last stdout line."""
    spec = json.loads(sys.stdin.read())
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    out = _measure_memory_cases(spec["cases"], spec["runs"], spec["device"])
    print(json.dumps(out))
    return 0


def measure_memory_in_child(cases: list[dict[str, Any]], runs: int, device: str, threads: int | None,
                            timeout_s: float = 1200.0) -> list[dict[str, int | str]]:
    """Run :func:`_measure_memory_cases` in a fresh interpreter (peak memory must not include the parent's)."""
    import monai_segloss

    root = str(Path(monai_segloss.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.update(MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0", MALLOC_TOP_PAD_="0")
    spec = {"cases": cases, "runs": runs, "device": device, "threads": threads}
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child"], input=json.dumps(spec),
                              capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return [{"error": f"memory child timed out after {timeout_s:.0f} s"}] * len(cases)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [{"error": f"memory child failed: {tail[0][:300]}"}] * len(cases)
    return json.loads(lines[-1])


# ---------------------------------------------------------------- the benchmark

@dataclass
class Row:
    """One (loss, shape) row of the table."""

    key: str
    dim: str
    shape: list[int]
    kwargs: dict[str, Any] | None
    monai: str | None
    time_ms: dict[str, float] = field(default_factory=dict)
    time_ratio: dict[str, float] = field(default_factory=dict)
    mem_mb: dict[str, float] = field(default_factory=dict)
    mem_ratio: dict[str, float] = field(default_factory=dict)
    value: dict[str, float] = field(default_factory=dict)
    rel_diff: float | None = None
    target: str = ""
    reps: int = 0
    error: str | None = None


def resolve_kwargs(key: str, device: str) -> tuple[dict[str, Any] | None, Counterpart | None, str | None]:
    """Our construction kwargs for ``key`` (from :data:`SPECS`, else the first of :data:`FALLBACK_KWARGS` that runs
    forward + backward on a tiny label-map input), its counterpart, and an error message if nothing runs."""
    import monai_segloss

    kwargs, counterpart = SPECS.get(key, (None, None))
    candidates = [kwargs] if kwargs is not None else FALLBACK_KWARGS
    errors = []
    for cand in candidates:
        try:
            x, y = make_tensors(1, 3, (6, 6), device)
            _step(monai_segloss.get_loss(key, **cand), x, y)
            return dict(cand), counterpart, None
        except Exception as err:  # noqa: BLE001 - try the next candidate, report all if none runs
            errors.append(f"{cand}: {type(err).__name__}: {err}")
    return None, counterpart, "; ".join(errors)[:300]


def _ratios(times: dict[str, list[float]]) -> dict[str, float]:
    ours = times["ours"]
    return {name: statistics.median(a / b for a, b in zip(ours, ts, strict=True))
            for name, ts in times.items() if name != "ours" and ts}


def _target_verdict(row: Row, c: int) -> str:
    full_3d = tuple(row.shape[2:]) == FULL_SHAPES["3d"][1:]
    if row.key not in TARGET_KEYS or not full_3d or c not in MEM_TARGET or row.error:
        return ""
    misses = []
    t, m = row.time_ratio.get("monai"), row.mem_ratio.get("monai")
    if t is None or t > TIME_TARGET:
        misses.append(f"time {t:.2f}>{TIME_TARGET}" if t is not None else "no time ratio")
    if m is None or m > MEM_TARGET[c]:
        misses.append(f"mem {m:.2f}>{MEM_TARGET[c]}" if m is not None else "no memory ratio")
    if row.rel_diff is None or row.rel_diff > VALUE_TARGET:
        misses.append(f"value {row.rel_diff:.1e}" if row.rel_diff is not None else "no value")
    return "ok" if not misses else "MISS " + ", ".join(misses)


def run_benchmark(keys: Sequence[str], shapes: dict[str, tuple[int, ...]], channels: Sequence[int], device: str,
                  min_reps: int, max_reps: int, budget_s: float, mem_runs: int, memory: bool, in_process: bool,
                  threads: int | None, log: Callable[[str], None] = print) -> list[Row]:
    """Time every (key, shape, C) in this process and measure its memory (on CPU in a fresh child process per
    shape, or here with ``in_process``, as the smoke run does); returns the rows."""
    rows: list[Row] = []
    pending: list[tuple[Row, dict[str, Any]]] = []
    resolved = {key: resolve_kwargs(key, device) for key in keys}
    for dim, (b, *spatial) in shapes.items():
        for c in channels:
            x, y = make_tensors(b, c, spatial, device)
            for key in keys:
                kwargs, counterpart, err = resolved[key]
                row = Row(key=key, dim=dim, shape=[b, c, *spatial], kwargs=kwargs,
                          monai=counterpart.label() if counterpart else None, error=err)
                rows.append(row)
                if err:
                    continue
                impls = [i for i in IMPLS if i != "monai" or counterpart is not None]
                try:
                    fns = {i: _loss_fn(i, key, kwargs, counterpart) for i in impls}
                    times, values = time_side_by_side(fns, x, y, min_reps, max_reps, budget_s)
                except Exception as e:  # noqa: BLE001 - reported in the row
                    row.error = f"{type(e).__name__}: {e}"[:300]
                    x.grad = None
                    continue
                row.reps = len(times["ours"])
                row.time_ms = {i: 1e3 * statistics.median(ts) for i, ts in times.items()}
                row.time_ratio = _ratios(times)
                row.value = values
                if counterpart is not None and counterpart.same_value:
                    row.rel_diff = abs(values["ours"] - values["monai"]) / max(abs(values["monai"]), 1e-30)
                case = {"key": key, "kwargs": kwargs, "b": b, "c": c, "spatial": list(spatial), "impls": impls,
                        "monai": None if counterpart is None else vars(counterpart)}
                pending.append((row, case))
                log(_progress(row, c))
            del x, y
            if memory:  # one fresh child per shape: every loss of that shape, one after the other
                _fill_memory(pending, mem_runs, device, threads, in_process)
                pending = []
    for row in rows:
        row.target = _target_verdict(row, row.shape[1])
    return rows


def _fill_memory(pending: list[tuple[Row, dict[str, Any]]], runs: int, device: str, threads: int | None,
                 in_process: bool) -> None:
    cases = [case for _, case in pending]
    if device == "cpu" and not in_process:
        results = measure_memory_in_child(cases, runs, device, threads)
    else:  # the CUDA counters start afresh per run; no child needed
        results = _measure_memory_cases(cases, runs, device, collect=not in_process)
    for (row, _), res in zip(pending, results, strict=True):
        if "error" in res:
            row.error = (row.error + "; " if row.error else "") + str(res["error"])
            continue
        row.mem_mb = {i: v / 2**20 for i, v in res.items()}
        ours = res["ours"]
        row.mem_ratio = {i: ours / v if v > 0 else math.inf for i, v in res.items() if i != "ours"}


def _progress(row: Row, c: int) -> str:
    r = row.time_ratio
    return (f"{row.key:>24} {row.dim} C={c:<2} ours {row.time_ms.get('ours', float('nan')):8.1f} ms  "
            + "  ".join(f"x{k} {v:.2f}" for k, v in r.items()) + (f"  Δ {row.rel_diff:.1e}" if row.rel_diff else ""))


# ---------------------------------------------------------------- output

COLUMNS = ["loss", "shape", "MONAI counterpart", "ours ms", "MONAI ms", "time ×MONAI", "time ×CE", "time ×floor",
           "ours MiB", "MONAI MiB", "mem ×MONAI", "mem ×CE", "mem ×floor", "rel Δ vs MONAI", "target"]


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def render_markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    """The table: one row per (loss, shape); ratios are ours / theirs (below 1 = ours faster or leaner)."""
    lines = [f"Benchmark on {meta['device']} ({meta['device_name']}), torch {meta['torch']}, MONAI {meta['monai']}, "
             f"{meta['threads']} threads, {meta['date']}. Forward + backward, label-map targets. Time: median of "
             "pairwise ratios of alternated runs. Memory: peak extra MiB (2^20 bytes), min of "
             f"{meta['mem_runs']} runs{meta['memory_where']}.",
             "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        shape = "×".join(map(str, r.shape))
        if r.error and not r.time_ms:
            cells = [r.key, shape, r.monai or "–", f"error: {r.error}"] + [""] * (len(COLUMNS) - 4)
        else:
            tr, mr, mm = r.time_ratio, r.mem_ratio, r.mem_mb
            cells = [r.key, shape, r.monai or "–", _fmt(r.time_ms.get("ours"), ".1f"),
                     _fmt(r.time_ms.get("monai"), ".1f"), _fmt(tr.get("monai"), ".2f"), _fmt(tr.get("ce"), ".2f"),
                     _fmt(tr.get("floor"), ".1f"), _fmt(mm.get("ours"), ".1f"), _fmt(mm.get("monai"), ".1f"),
                     _fmt(mr.get("monai"), ".2f"), _fmt(mr.get("ce"), ".2f"), _fmt(mr.get("floor"), ".2f"),
                     _fmt(r.rel_diff, ".1e"), r.target + (f" (error: {r.error})" if r.error else "")]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _parse_shape(text: str) -> tuple[int, ...]:
    dims = tuple(int(t) for t in text.lower().split("x"))
    if not 2 <= len(dims) <= 4 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"--shape must be BxS1[xS2[xS3]], e.g. 2x64x64x64, got {text!r}")
    return dims


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_losses.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny shapes, C=3, two repetitions, memory measured in-process")
    p.add_argument("--keys", nargs="*", default=None, help="registry keys (default: every registered loss)")
    p.add_argument("--channels", nargs="*", type=int, default=None, help="class counts (default 2 3 14)")
    p.add_argument("--dims", nargs="*", choices=["2d", "3d"], default=None, help="which of the default shapes")
    p.add_argument("--shape", action="append", type=_parse_shape, default=None,
                   help="custom BxS1xS2[xS3] replacing the default shapes (repeatable)")
    p.add_argument("--min-reps", type=int, default=None, help="timed repetitions per implementation, at least")
    p.add_argument("--max-reps", type=int, default=None, help="at most")
    p.add_argument("--budget", type=float, default=None, help="seconds of timing per row before stopping")
    p.add_argument("--mem-runs", type=int, default=None, help="memory runs per implementation (minimum taken)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"), help="output folder")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; write the markdown table and the JSON file; print the table. Returns 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return _child_main()
    args = build_parser().parse_args(argv)
    import monai_segloss

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    if args.shape:
        shapes = {f"{len(s) - 1}d" + ("" if i == 0 else f"#{i}"): s for i, s in enumerate(args.shape)}
    else:
        base = QUICK_SHAPES if quick else FULL_SHAPES
        shapes = {d: s for d, s in base.items() if args.dims is None or d in args.dims}
    channels = args.channels or ([3] if quick else [2, 3, 14])
    keys = args.keys if args.keys else monai_segloss.available_losses()
    unknown = sorted(set(keys) - set(monai_segloss.available_losses()))
    if unknown:
        raise SystemExit(f"--keys: unknown loss keys {unknown}; available: {monai_segloss.available_losses()}")
    import monai

    mem_runs = args.mem_runs or (1 if quick else 3)
    rows = run_benchmark(keys, shapes, channels, args.device,
                         min_reps=args.min_reps or (2 if quick else 5), max_reps=args.max_reps or (2 if quick else 15),
                         budget_s=args.budget if args.budget is not None else (0.0 if quick else 8.0),
                         mem_runs=mem_runs, memory=not args.no_memory, in_process=quick, threads=args.threads,
                         log=(lambda s: None) if quick else (lambda s: print(s, flush=True)))
    dev = torch.device(args.device)
    meta = {"device": dev.type, "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda"
            else platform.processor() or platform.machine(), "torch": torch.__version__,
            "monai": monai.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": quick, "mem_runs": mem_runs,
            "memory_where": "" if dev.type != "cpu" else " in-process (smoke run)" if quick
            else " in a fresh child process per shape (the losses one after the other, each from its own baseline)",
            "shapes": shapes, "channels": channels, "columns": COLUMNS}
    table = render_markdown(rows, meta)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bench_{dev.type}{'_quick' if quick else ''}"
    (out / f"{stem}.md").write_text(table)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": [vars(r) for r in rows]}, indent=1))
    print(table)
    print(f"written: {out / (stem + '.md')}, {out / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a script: make the repository's package importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
