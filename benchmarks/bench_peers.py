"""Ours against nnU-Net v2 and MONAI at every class count: the table of the README (``make bench``).

For the compound losses ``dice_ce``, ``dice_focal`` and every region loss, at C = 2, 3, 14, 32, 118, 2D and 3D,
label-map targets, under two configurations:

- ``bg``: every channel scored, per-sample statistics (MONAI's defaults);
- ``nobg+batch``: background left out of the Dice term, statistics over the batch (nnU-Net's defaults);

forward plus backward is timed for

- ``ours``: the registered loss (``dice_ce``/``dice_focal`` without background: a :class:`~monai_segloss.CompoundLoss`
  of a Dice without background and a cross-entropy / focal term over every class, the quantity of MONAI's and
  nnU-Net's classes; the presets route ``include_background`` to both terms);
- ``nnunet``: nnU-Net v2's own classes where it has the quantity (``MemoryEfficientSoftDiceLoss``, its default Dice,
  and ``DC_and_CE_loss`` over it; ``SoftDiceLoss`` too for ``dice``, column ``nnunet_soft``), smoothing 1e-5 as in
  its trainers;
- ``monai``: MONAI's class (:data:`MONAI_PEERS`; for ``sensitivity_specificity``, which MONAI lacks, the closest:
  ``DiceLoss``, the same statistics).

Shapes (``B, C, *S``) shrink with C so that the logits stay between 12 and 66 MB (:data:`SHAPES`). Time: the
implementations alternate (A B C A B C ...), the ratio is the median of the pairwise ratios ours / peer, with its
min-max. Memory: peak extra resident memory of one forward + backward in a fresh child process per (dim, C)
(``VmHWM`` over the resident size before the call; min-max over the runs); on a GPU,
``torch.cuda.max_memory_allocated``. Targets (issue 16): time <= 0.8x the faster peer; memory <= 0.8x the smaller
peer at C <= 3 and <= 0.5x at C >= 14; ``dice_ce``/``dice_focal`` at C >= 14 also <= 2x the logits' size.

Usage::

    python benchmarks/bench_peers.py [--device cuda] [--quick] [--keys dice dice_ce] [--channels 2 3]
        [--dims 3d] [--variants bg] [--threads 2] [--out benchmarks/results] [--readme README.md]

writes ``peers_<device>[_quick].md`` (the full table), ``.json`` (every figure) and ``.png`` (time and memory
against C) under ``--out``; with ``--readme``, replaces the summary between the README's markers. The fixed cost per
call (:data:`SMALL_SHAPES`, target: at most MONAI's time) is measured first, in its own table (``--no-small`` skips
it, ``--only-small`` measures only it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_losses import (  # noqa: E402
    LABEL_KW,
    Counterpart,
    _measure_memory_cases,
    _MonaiLoss,
    make_tensors,
    measure_memory_in_child,
    time_side_by_side,
)

__all__ = ["main", "LOSSES", "CHANNELS", "VARIANTS", "SHAPES", "build_fns", "render_table", "render_summary"]

LOSSES = ("dice_ce", "dice_focal", "dice", "jaccard", "generalized_dice", "tversky", "focal_tversky",
          "log_cosh_dice", "sensitivity_specificity")
CHANNELS = (2, 3, 14, 32, 118)
VARIANTS: dict[str, dict[str, bool]] = {"bg": {"include_background": True, "batch": False},
                                        "nobg+batch": {"include_background": False, "batch": True}}
SHAPES: dict[str, dict[int, tuple[int, ...]]] = {  # (B, *S) per C
    "3d": {2: (2, 96, 96, 96), 3: (2, 96, 96, 96), 14: (1, 96, 96, 96), 32: (1, 80, 80, 80), 118: (1, 48, 48, 48)},
    "2d": {2: (16, 256, 256), 3: (16, 256, 256), 14: (8, 256, 256), 32: (4, 256, 256), 118: (2, 256, 256)},
}
QUICK_SHAPES = {"3d": (1, 8, 8, 8), "2d": (2, 16, 16)}
# the fixed cost per call (issue 16, goal 7): small 2D patches and small 3D crops, where option handling, validation
# and many small ops dominate; target: at most MONAI's time
SMALL_SHAPES = ((2, 3, 24, 24), (2, 2, 32, 32, 32))
SMALL_TARGET = 1.0
FLOOR = "floor"  # the least work of any softmax-based loss on the logits (:func:`softmax_floor`), timed in every row
FLOOR_TARGET = 1.5  # issue 23: region losses and dice_ce at C <= 3 in 3D, at most 1.5x the floor
PEERS = ("nnunet", "nnunet_soft", "monai")
TIME_TARGET = 0.8
MEM_TARGET = {"small": 0.8, "large": 0.5}  # C <= 3, C >= 14
LOGITS_TARGET = 2.0  # dice_ce, dice_focal at C >= 14: peak extra memory / logits size
SMOOTH = 1e-5

# registry key -> (MONAI class, extra kwargs, post-transform, same quantity as ours)
MONAI_PEERS: dict[str, tuple[str, dict[str, Any], str | None, bool]] = {
    "dice_ce": ("DiceCELoss", {}, None, True),
    "dice_focal": ("DiceFocalLoss", {"gamma": 2.0}, None, False),  # MONAI's focal term differs (DESIGN §3)
    "dice": ("DiceLoss", {}, None, True),
    "jaccard": ("DiceLoss", {"jaccard": True}, None, True),
    "generalized_dice": ("GeneralizedDiceLoss", {}, None, True),
    "tversky": ("TverskyLoss", {"alpha": 0.3, "beta": 0.7}, None, True),
    "focal_tversky": ("TverskyLoss", {"alpha": 0.3, "beta": 0.7, "reduction": "none"}, "focal", True),
    "log_cosh_dice": ("DiceLoss", {"reduction": "none"}, "log_cosh", True),
    "sensitivity_specificity": ("DiceLoss", {}, None, False),  # no MONAI loss: the closest (same statistics)
}
NNUNET_KEYS = {"dice": ("MemoryEfficientSoftDiceLoss", "SoftDiceLoss"), "dice_ce": ("DC_and_CE_loss",)}


# ---------------------------------------------------------------- the implementations

def _ours(key: str, variant: dict[str, bool]) -> torch.nn.Module:
    import monai_segloss

    if key in ("dice_ce", "dice_focal") and not variant["include_background"]:
        voxel = {"loss": "cross_entropy", "name": "ce"} if key == "dice_ce" else \
            {"loss": "focal", "kwargs": {"gamma": 2.0}}
        return monai_segloss.CompoundLoss([{"loss": "dice", "kwargs": dict(variant)}, voxel], shared=LABEL_KW)
    return monai_segloss.get_loss(key, **LABEL_KW, **variant)


def _monai(key: str, variant: dict[str, bool]) -> torch.nn.Module:
    name, extra, post, _ = MONAI_PEERS[key]
    return _MonaiLoss(Counterpart(name, {**LABEL_KW, **variant, **extra}, post=post))


def _nnunet(cls_name: str, variant: dict[str, bool]) -> torch.nn.Module:
    from nnunetv2.training.loss import compound_losses, dice

    dice_kw = {"batch_dice": variant["batch"], "do_bg": variant["include_background"], "smooth": SMOOTH,
               "ddp": False}
    if cls_name == "DC_and_CE_loss":
        return compound_losses.DC_and_CE_loss(dice_kw, {}, weight_ce=1, weight_dice=1,
                                              dice_class=dice.MemoryEfficientSoftDiceLoss)
    return getattr(dice, cls_name)(apply_nonlin=_softmax_dim1, **dice_kw)


def _softmax_dim1(x: torch.Tensor) -> torch.Tensor:  # nnU-Net's softmax_helper_dim1
    return torch.softmax(x, 1)


def nnunet_available() -> bool:
    try:
        import nnunetv2.training.loss.compound_losses  # noqa: F401
    except ImportError:
        return False
    return True


def impls_for(key: str, with_nnunet: bool) -> list[str]:
    peers = list(NNUNET_KEYS.get(key, ())) if with_nnunet else []
    return ["ours"] + ["nnunet", "nnunet_soft"][:len(peers)] + ["monai"]


def build_fns(case: dict[str, Any]) -> dict[str, Callable]:
    """``{impl: f(x, y) -> scalar}`` for one case (also the memory child's factory)."""
    key, variant = case["key"], VARIANTS[case["variant"]]
    nn_classes = NNUNET_KEYS.get(key, ())
    out: dict[str, Callable] = {}
    for impl in case["impls"]:
        if impl == "ours":
            out[impl] = _ours(key, variant)
        elif impl == "monai":
            out[impl] = _monai(key, variant)
        else:
            out[impl] = _nnunet(nn_classes[0 if impl == "nnunet" else 1], variant)
    return out


def softmax_floor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The floor: one softmax over the channels (its forward, and its backward through the sum) and one read of the
    labels — what every softmax-based loss on these logits has to do at least."""
    return torch.softmax(x, dim=1).sum() + 0 * y.sum()


def _offset(impl: str) -> float:
    """nnU-Net's losses return -Dice where ours return 1 - Dice: the constant between the values."""
    return -1.0 if impl.startswith("nnunet") else 0.0


# ---------------------------------------------------------------- the run

def run(keys: Sequence[str], channels: Sequence[int], dims: Sequence[str], variants: Sequence[str], device: str,
        quick: bool, min_reps: int, max_reps: int, budget_s: float, mem_runs: int, memory: bool,
        threads: int | None, log: Callable[[str], None],
        checkpoint: Callable[[list[dict[str, Any]]], None] = lambda rows: None) -> list[dict[str, Any]]:
    """Time (and measure the memory of) every row; ``checkpoint`` receives the rows after each (dim, C)."""
    with_nnunet = nnunet_available()
    if not with_nnunet:
        log("nnunetv2 is not installed (pip install -e '.[bench]'): the nnU-Net columns stay empty")
    rows: list[dict[str, Any]] = []
    total = len(keys) * len(channels) * len(dims) * len(variants)
    for dim in dims:
        for c in channels:
            b, *spatial = QUICK_SHAPES[dim] if quick else SHAPES[dim][c]
            x, y = make_tensors(b, c, spatial, device)
            cases = []
            for variant in variants:
                for key in keys:
                    case = {"key": key, "variant": variant, "dim": dim, "b": b, "c": c, "spatial": list(spatial),
                            "impls": impls_for(key, with_nnunet), "factory": "benchmarks.bench_peers:build_fns"}
                    row = {**{k: v for k, v in case.items() if k != "factory"}, "shape": [b, c, *spatial],
                           "logits_mb": x.numel() * x.element_size() / 2**20, "error": None}
                    rows.append(row)
                    if not _time_row(row, case, x, y, min_reps, max_reps, budget_s):
                        continue
                    cases.append((row, case))
                    log(f"[{len(rows)}/{total}] {dim} C={c:<3} {variant:<10} {key:<24} " + _progress(row))
            del x, y
            if memory and cases:
                _fill_memory(cases, mem_runs, device, threads, in_process=quick)
            checkpoint(rows)
    return rows


def run_small(keys: Sequence[str], variants: Sequence[str], device: str, quick: bool,
              log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The fixed-cost rows: every key and configuration at :data:`SMALL_SHAPES`, many alternated repetitions (a call
    takes about a millisecond)."""
    with_nnunet = nnunet_available()
    rows: list[dict[str, Any]] = []
    for shape in SMALL_SHAPES:
        b, c, *spatial = shape
        x, y = make_tensors(b, c, spatial, device)
        for variant in variants:
            for key in keys:
                case = {"key": key, "variant": variant, "impls": impls_for(key, with_nnunet)}
                row: dict[str, Any] = {"key": key, "variant": variant, "shape": list(shape), "c": c, "error": None}
                rows.append(row)
                if not _time_row(row, case, x, y, 2 if quick else 50, 2 if quick else 400, 0.0 if quick else 1.0):
                    continue
                row["verdict"] = small_verdict(row)
                log(f"[fixed cost {len(rows)}] {'×'.join(map(str, shape)):<14} {variant:<10} {key:<24} "
                    + _progress(row))
    return rows


def small_verdict(row: dict[str, Any]) -> str:
    """Goal 7: at most MONAI's time."""
    if row.get("error") or "time_ratio" not in row:
        return "error"
    t = row["time_ratio"].get("monai")
    return "ok" if t is None or t <= SMALL_TARGET else f"MISS time {t:.2f}"


def render_small(rows: list[dict[str, Any]]) -> str:
    """The fixed-cost table: per loss and configuration, ours in ms and the ratio to MONAI (and nnU-Net) at each
    small shape; **bold** where ours takes longer than MONAI."""
    shapes = list(dict.fromkeys(tuple(r["shape"]) for r in rows))
    cols = [f"{'×'.join(map(str, sh))}" for sh in shapes]
    lines = ["Fixed cost per call (forward + backward at small sizes; target: at most MONAI's time). Cells: ours ms, "
             "× MONAI [min–max of the pairwise ratios], × the floor (one softmax forward + backward and one read of "
             "the labels, timed in the same alternation) (× nnU-Net where it has the loss).", "",
             "| loss | config | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    index = {(r["key"], r["variant"], tuple(r["shape"])): r for r in rows}
    for key in dict.fromkeys(r["key"] for r in rows):
        for variant in dict.fromkeys(r["variant"] for r in rows):
            cells = []
            for sh in shapes:
                r = index.get((key, variant, sh))
                if r is None or "time_ratio" not in r:
                    cells.append("–" if r is None else "error")
                    continue
                t, span = r["time_ratio"]["monai"], r["time_ratio_range"]["monai"]
                cell = f"{r['ms']['ours']:.2f} ms, ×{t:.2f} [{span[0]:.2f}–{span[1]:.2f}]"
                if "floor_ratio" in r:
                    cell += f", {r['floor_ratio']:.1f}× floor"
                if "nnunet" in r["time_ratio"]:
                    cell += f" (nnU-Net ×{r['time_ratio']['nnunet']:.2f})"
                cells.append(cell if r["verdict"] == "ok" else f"**{cell}**")
            lines.append(f"| {key} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _time_row(row: dict[str, Any], case: dict[str, Any], x: torch.Tensor, y: torch.Tensor, min_reps: int,
              max_reps: int, budget_s: float) -> bool:
    """Time the case's implementations side by side into ``row`` (:func:`_fill_times`); False, with the error in
    the row, when one of them fails."""
    try:
        times, values = time_side_by_side({**build_fns(case), FLOOR: softmax_floor}, x, y, min_reps, max_reps,
                                          budget_s)
    except Exception as err:  # noqa: BLE001 - reported in the row
        row["error"] = f"{type(err).__name__}: {err}"[:300]
        x.grad = None
        return False
    _fill_times(row, times, values, case["key"])
    return True


def _fill_times(row: dict[str, Any], times: dict[str, list[float]], values: dict[str, float], key: str) -> None:
    floor = times.pop(FLOOR, None)
    values = {i: v for i, v in values.items() if i != FLOOR}
    ours = times["ours"]
    if floor is not None:  # ours / the floor, the median of the alternated pairs, with its min-max
        ratios = [a / b for a, b in zip(ours, floor, strict=True)]
        row["floor_ms"] = 1e3 * statistics.median(floor)
        row["floor_ratio"] = statistics.median(ratios)
        row["floor_ratio_range"] = [min(ratios), max(ratios)]
    row["reps"] = len(ours)
    row["ms"] = {i: 1e3 * statistics.median(ts) for i, ts in times.items()}
    row["ms_range"] = {i: [1e3 * min(ts), 1e3 * max(ts)] for i, ts in times.items()}
    pair = {i: [a / b for a, b in zip(ours, ts, strict=True)] for i, ts in times.items() if i != "ours"}
    row["time_ratio"] = {i: statistics.median(r) for i, r in pair.items()}
    row["time_ratio_range"] = {i: [min(r), max(r)] for i, r in pair.items()}
    row["value"] = values
    same = {"monai": MONAI_PEERS[key][3], "nnunet": True, "nnunet_soft": True}
    row["rel_diff"] = {i: abs(values["ours"] + _offset(i) - values[i]) / max(abs(values[i]), 1e-30)
                       for i in values if i != "ours" and same[i]}


def _fill_memory(cases: list[tuple[dict[str, Any], dict[str, Any]]], runs: int, device: str, threads: int | None,
                 in_process: bool) -> None:
    specs = [{**case, "spread": True} for _, case in cases]
    if device == "cpu" and not in_process:
        results = measure_memory_in_child(specs, runs, device, threads)
    else:
        results = _measure_memory_cases(specs, runs, device, collect=not in_process)
    for (row, _), res in zip(cases, results, strict=True):
        if "error" in res:
            row["error"] = (row["error"] + "; " if row["error"] else "") + str(res["error"])
            continue
        row["mib"] = {i: v / 2**20 for i, v in res.items() if not i.endswith(":max")}
        row["mib_range"] = {i: [res[i] / 2**20, res[i + ":max"] / 2**20] for i in row["mib"]}
        ours = row["mib"]["ours"]
        row["mem_ratio"] = {i: ours / v if v > 0 else math.inf for i, v in row["mib"].items() if i != "ours"}


def _best(ratios: dict[str, float]) -> float | None:
    """The ratio to the strictest peer (the faster / the smaller one): the largest of ours / peer."""
    return max(ratios.values()) if ratios else None


def verdict(row: dict[str, Any]) -> str:
    if row.get("error") or "time_ratio" not in row:
        return "error"
    misses = []
    t = _best(row["time_ratio"])
    if t is not None and t > TIME_TARGET:
        misses.append(f"time {t:.2f}")
    if "mem_ratio" in row:
        limit = MEM_TARGET["small" if row["c"] <= 3 else "large"]
        m = _best(row["mem_ratio"])
        if m is not None and m > limit:
            misses.append(f"mem {m:.2f}>{limit}")
        if row["key"] in ("dice_ce", "dice_focal") and row["c"] >= 14:
            logits = row["mib"]["ours"] / row["logits_mb"]
            if logits > LOGITS_TARGET:
                misses.append(f"{logits:.1f}x logits")
    return "ok" if not misses else "MISS " + ", ".join(misses)


def _progress(row: dict[str, Any]) -> str:
    return f"ours {row['ms']['ours']:8.1f} ms  " + "  ".join(f"x{i} {v:.2f}" for i, v in row["time_ratio"].items())


# ---------------------------------------------------------------- output

TABLE_COLUMNS = ["loss", "variant", "shape", "ours ms", "nnU-Net ms", "nnU-Net SoftDice ms", "MONAI ms",
                 "time ×best peer [min–max]", "floor ms", "ours / floor", "ours MiB", "nnU-Net MiB", "MONAI MiB",
                 "mem ×best peer", "ours / logits", "rel Δ", "verdict"]


def _f(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def floor_goal(row: dict[str, Any]) -> bool:
    """Whether issue 23's floor goal applies: region losses and dice_ce at C <= 3, in 3D."""
    return row.get("dim") == "3d" and row["c"] <= 3 and row["key"] != "dice_focal"


def _floor_cell(row: dict[str, Any]) -> str:
    """``ours / floor [min–max]``, bold where the floor goal applies and is missed."""
    if "floor_ratio" not in row:
        return "–"
    lo, hi = row["floor_ratio_range"]
    cell = f"{row['floor_ratio']:.2f} [{lo:.2f}–{hi:.2f}]"
    return f"**{cell}**" if floor_goal(row) and row["floor_ratio"] > FLOOR_TARGET else cell


def render_table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """Every row: ours and each peer in ms and MiB, the ratio to the strictest peer (below 1: ours faster or
    leaner), value agreement and the verdict against the targets."""
    lines = [_caption(meta), "", "| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for r in rows:
        ms, mib = r.get("ms", {}), r.get("mib", {})
        tr = r.get("time_ratio", {})
        worst = max(tr, key=tr.get) if tr else None
        span = r["time_ratio_range"][worst] if worst else None
        t_cell = "–" if worst is None else f"{tr[worst]:.2f} [{span[0]:.2f}–{span[1]:.2f}] ({worst})"
        rd = r.get("rel_diff") or {}
        cells = [r["key"], r["variant"], "×".join(map(str, r["shape"])), _f(ms.get("ours"), ".1f"),
                 _f(ms.get("nnunet"), ".1f"), _f(ms.get("nnunet_soft"), ".1f"), _f(ms.get("monai"), ".1f"), t_cell,
                 _f(r.get("floor_ms"), ".1f"), _floor_cell(r),
                 _f(mib.get("ours"), ".1f"), _f(mib.get("nnunet"), ".1f"), _f(mib.get("monai"), ".1f"),
                 _f(_best(r.get("mem_ratio", {})), ".2f"),
                 _f(mib["ours"] / r["logits_mb"] if "ours" in mib else None, ".2f"),
                 _f(max(rd.values()) if rd else None, ".0e"),
                 r["verdict"] + (f" ({r['error']})" if r.get("error") else "")]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _caption(meta: dict[str, Any]) -> str:
    return (f"{meta['device']} ({meta['device_name']}), torch {meta['torch']}, MONAI {meta['monai']}, nnU-Net "
            f"{meta['nnunet']}, {meta['threads']} threads, load average {meta['load_before']} → "
            f"{meta['load_after']}, {meta['date']}, {meta['minutes']:.0f} min. Forward + backward, label-map "
            "targets. Time: median of alternated runs; ratios are medians of pairwise ratios ours / peer. Floor: "
            "one torch.softmax over the channels, forward and backward, plus one read of the labels, timed in the "
            f"same alternation (goal: ours ≤ {FLOOR_TARGET}× the floor for the region losses and dice_ce at C ≤ 3 "
            "in 3D; bold where missed). Memory: "
            f"peak extra MiB, min of {meta['mem_runs']} runs{meta['memory_where']}.")


def render_summary(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The README's table: per loss and configuration, for each C and dim, ``time× / memory×`` the strictest
    peer (below 1: ours faster / leaner); bold where a target is missed."""
    dims = list(dict.fromkeys(r["dim"] for r in rows))
    chans = sorted({r["c"] for r in rows})
    cols = [f"{d} C={c}" for d in dims for c in chans]
    lines = [_caption(meta), "", "Cells: time × / memory × the strictest peer (the faster, the smaller of nnU-Net and "
             "MONAI), and ours × the floor; **bold**: a peer target missed (time ≤ 0.8, memory ≤ 0.8 at C ≤ 3 and "
             "≤ 0.5 at C ≥ 14, dice_ce/dice_focal ≤ 2× the logits at C ≥ 14).", "",
             "| loss | config | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    index = {(r["key"], r["variant"], r["dim"], r["c"]): r for r in rows}
    for key in dict.fromkeys(r["key"] for r in rows):
        for variant in dict.fromkeys(r["variant"] for r in rows):
            cells = []
            for d in dims:
                for c in chans:
                    r = index.get((key, variant, d, c))
                    if r is None or "time_ratio" not in r:
                        cells.append("–" if r is None else "error")
                        continue
                    cell = f"{_best(r['time_ratio']):.2f} / {_f(_best(r.get('mem_ratio', {})), '.2f')}"
                    if "floor_ratio" in r:
                        cell += f" ({r['floor_ratio']:.1f}× floor)"
                    cells.append(cell if r["verdict"] == "ok" else f"**{cell}**")
            lines.append(f"| {key} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Time per logit element and peak memory in logits' sizes against C: ours and both peers, for dice_ce and
    dice (nnU-Net's configuration), 2D and 3D."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = list(dict.fromkeys(r["dim"] for r in rows))
    fig, axes = plt.subplots(2, len(dims), figsize=(6 * len(dims), 7), squeeze=False)
    variant = "nobg+batch" if any(r["variant"] == "nobg+batch" for r in rows) else rows[0]["variant"]
    styles = {"ours": ("C0", "ours"), "nnunet": ("C1", "nnU-Net"), "monai": ("C2", "MONAI")}
    for j, dim in enumerate(dims):
        for key, ls in (("dice_ce", "-"), ("dice", "--")):
            sel = sorted((r for r in rows if r["key"] == key and r["dim"] == dim and r["variant"] == variant
                          and "ms" in r), key=lambda r: r["c"])
            for impl, (color, name) in styles.items():
                pts = [(r["c"], 1e6 * r["ms"][impl] / (r["logits_mb"] * 2**18), r.get("mib", {}).get(impl),
                        r["logits_mb"]) for r in sel if impl in r["ms"]]
                if not pts:
                    continue
                cs = [p[0] for p in pts]
                axes[0, j].plot(cs, [p[1] for p in pts], ls, color=color, marker="o", label=f"{name} {key}")
                mem = [(p[0], p[2] / p[3]) for p in pts if p[2] is not None]
                if mem:
                    axes[1, j].plot(*zip(*mem, strict=True), ls, color=color, marker="o", label=f"{name} {key}")
        axes[0, j].set_title(f"{dim}, {variant}: time per logit element")
        axes[0, j].set_ylabel("ns / element (forward + backward)")
        axes[1, j].set_title(f"{dim}, {variant}: peak extra memory")
        axes[1, j].set_ylabel("× logits size")
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(sorted({r["c"] for r in rows}))
            ax.set_xticklabels([str(c) for c in sorted({r["c"] for r in rows})])
            ax.set_xlabel("classes C")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


README_START, README_END = "<!-- bench-peers:start -->", "<!-- bench-peers:end -->"


def update_readme(readme: Path, summary: str, files: dict[str, str], command: str) -> None:
    """Replace the text between the README's markers with the summary table, the plot and the command."""
    text = readme.read_text()
    block = (f"{README_START}\n{summary}\nFull table: [{files['md']}]({files['md']}); every figure: "
             f"[{files['json']}]({files['json']}). Remade by `{command}`.\n\n![time and memory against C]"
             f"({files['png']})\n{README_END}")
    if README_START in text:
        text = re.sub(re.escape(README_START) + ".*?" + re.escape(README_END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Performance against nnU-Net and MONAI\n\n" + block + "\n"
    readme.write_text(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks/bench_peers.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny shapes, two repetitions, memory in-process")
    p.add_argument("--keys", nargs="*", default=list(LOSSES), choices=LOSSES)
    p.add_argument("--channels", nargs="*", type=int, default=list(CHANNELS), choices=CHANNELS)
    p.add_argument("--dims", nargs="*", default=["3d", "2d"], choices=["3d", "2d"])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--min-reps", type=int, default=None)
    p.add_argument("--max-reps", type=int, default=None)
    p.add_argument("--budget", type=float, default=None, help="seconds of timing per row (default 3)")
    p.add_argument("--mem-runs", type=int, default=None, help="memory runs per implementation (default 3)")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-small", action="store_true", help="skip the fixed-cost rows at small sizes")
    p.add_argument("--only-small", action="store_true", help="only the fixed-cost rows at small sizes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (make bench: 2)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--readme", default=None, help="README whose summary section to replace")
    p.add_argument("--from-json", default=None, help="render the table, plot and README from this JSON (no run)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    import monai

    quick = args.quick
    dev = torch.device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"peers_{dev.type}{'_quick' if quick else ''}"
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        return _write(data["rows"], data["meta"], out, stem, args.readme, data.get("small_rows"))
    mem_runs = args.mem_runs or (1 if quick else 3)
    start, load_before = time.time(), _load()

    def checkpoint(rows: list[dict[str, Any]]) -> None:  # a long run leaves its rows behind as it goes
        (out / f"{stem}.partial.json").write_text(json.dumps({"meta": meta(), "rows": rows}, indent=1))

    def meta() -> dict[str, Any]:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
        return {"device": dev.type, "device_name": name, "torch": torch.__version__, "monai": monai.__version__,
                "nnunet": _nnunet_version(), "threads": torch.get_num_threads(), "load_before": load_before,
                "load_after": _load(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "minutes": (time.time() - start) / 60, "mem_runs": mem_runs, "quick": quick,
                "memory_where": "" if dev.type != "cpu" else " in-process (smoke run)" if quick
                else " in a fresh child process per (dim, C), the losses one after the other",
                "shapes": {d: {str(c): list(s) for c, s in v.items()} for d, v in SHAPES.items()}}

    log = (lambda s: None) if quick else print
    small = [] if args.no_small else run_small(args.keys, args.variants, args.device, quick, log)
    rows = [] if args.only_small else run(
        args.keys, args.channels, args.dims, args.variants, args.device, quick,
        min_reps=args.min_reps or (2 if quick else 5), max_reps=args.max_reps or (2 if quick else 15),
        budget_s=args.budget if args.budget is not None else (0.0 if quick else 3.0), mem_runs=mem_runs,
        memory=not args.no_memory, threads=args.threads, log=log, checkpoint=checkpoint)
    (out / f"{stem}.partial.json").unlink(missing_ok=True)
    return _write(rows, meta(), out, stem, args.readme, small)


def _write(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path, stem: str, readme: str | None,
           small: list[dict[str, Any]] | None = None) -> int:
    """Write the table, the JSON and the plot; replace the README's summary; print the summary."""
    small = small or []
    for row in rows:  # (again: a partial run's rows have none yet)
        row["verdict"] = verdict(row)
    small_md = "\n" + render_small(small) if small else ""
    (out / f"{stem}.md").write_text(render_table(rows, meta) + small_md)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows, "small_rows": small}, indent=1))
    if rows:
        plot(rows, out / f"{stem}.png")
    summary = (render_summary(rows, meta) if rows else _caption(meta) + "\n") + small_md
    if readme and rows:  # (a fixed-cost-only run leaves the README's table alone)
        path = Path(readme).resolve()
        files = {ext: os.path.relpath(out / f"{stem}.{ext}", path.parent) for ext in ("md", "json", "png")}
        update_readme(path, summary, files, "make bench" if meta["device"] == "cpu" else "make bench-gpu")
    print(summary)
    print(f"written: {out / stem}.md, .json, .png ({meta['minutes']:.1f} min)")
    return 0


def _load() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _nnunet_version() -> str:
    try:
        from importlib.metadata import version

        return version("nnunetv2")
    except Exception:  # noqa: BLE001 - not installed
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
