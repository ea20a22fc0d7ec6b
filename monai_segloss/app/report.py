"""The demo's report: one table (report.md), the numbers (metrics.json) and PNG figures.

Plain data in, files out: the training driver fills one :class:`LossRun` per loss, :func:`write_report` writes
``report.md``, ``metrics.json``, ``training_curves.png``, ``recall_by_size.png`` and ``examples.png``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LossRun", "Example", "write_report", "TABLE_COLUMNS"]

TABLE_COLUMNS = [
    ("dice", "Dice"),
    ("lesion_sensitivity", "lesion sensitivity"),
    ("lesion_precision", "lesion precision"),
    ("lesion_f1", "lesion F1"),
    ("small_lesion_recall", "small-lesion recall"),
    ("hd95_mm", "HD95 (mm)"),
    ("train_seconds", "training time (s)"),
]


@dataclass
class Example:
    """One 2D slice to show: image, target and prediction of the same shape."""

    case: str
    image: np.ndarray
    target: np.ndarray
    prediction: np.ndarray


@dataclass
class LossRun:
    """Everything measured for one loss.

    Attributes:
        key: registry key of the loss.
        metrics: held-out metrics, keys of :data:`TABLE_COLUMNS` (NaN where undefined).
        recall_by_size: lesion recall per lesion-size bin label (e.g. ``"< 100 voxels"``), NaN for an empty bin.
        lesions_by_size: number of held-out lesions per bin.
        train_loss: (iteration, loss) pairs.
        val_metric: (epoch, value) pairs of the validation key metric.
        examples: slices to draw.
    """

    key: str
    metrics: dict[str, float]
    recall_by_size: dict[str, float] = field(default_factory=dict)
    lesions_by_size: dict[str, int] = field(default_factory=dict)
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_metric: list[tuple[int, float]] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


def _fmt(v: float, key: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if key in ("hd95_mm", "train_seconds"):
        return f"{v:.1f}"
    return f"{v:.3f}"


def _table(runs: list[LossRun]) -> str:
    head = "| loss | " + " | ".join(name for _, name in TABLE_COLUMNS) + " |"
    sep = "|---|" + "---:|" * len(TABLE_COLUMNS)
    rows = [f"| `{r.key}` | " + " | ".join(_fmt(r.metrics.get(k, float("nan")), k) for k, _ in TABLE_COLUMNS) + " |"
            for r in runs]
    return "\n".join([head, sep, *rows])


def _finite(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _findings(runs: list[LossRun]) -> list[str]:
    """Sentences read off the numbers (nothing here is decided in advance)."""
    lines = []
    by_key = {r.key: r for r in runs}
    scored = [r for r in runs if _finite(r.metrics.get("small_lesion_recall"))]
    if scored:
        best = max(scored, key=lambda r: r.metrics["small_lesion_recall"])
        lines.append(f"Highest small-lesion recall: `{best.key}` ({best.metrics['small_lesion_recall']:.3f}).")
    f1 = [r for r in runs if _finite(r.metrics.get("lesion_f1"))]
    if f1:
        best = max(f1, key=lambda r: r.metrics["lesion_f1"])
        lines.append(f"Highest lesion F1: `{best.key}` ({best.metrics['lesion_f1']:.3f}).")
    dice = by_key.get("dice")
    if dice is not None and _finite(dice.metrics.get("small_lesion_recall")):
        base = dice.metrics["small_lesion_recall"]
        for key in ("focal_tversky", "unified_focal"):
            r = by_key.get(key)
            if r is not None and _finite(r.metrics.get("small_lesion_recall")):
                v = r.metrics["small_lesion_recall"]
                verdict = "higher than" if v > base else ("equal to" if v == base else "lower than")
                lines.append(f"`{key}` small-lesion recall {v:.3f} is {verdict} Dice's {base:.3f} at equal budget.")
    return lines


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(runs: list[LossRun], path: Path) -> None:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        if r.train_loss:
            it, val = zip(*r.train_loss, strict=True)
            ax1.plot(it, val, label=r.key, lw=1)
        if r.val_metric:
            ep, val = zip(*r.val_metric, strict=True)
            ax2.plot(ep, val, marker="o", label=r.key)
    ax1.set(xlabel="iteration", ylabel="training loss", title="Training loss (each loss on its own scale)")
    ax2.set(xlabel="epoch", ylabel="lesion F1", title="Validation lesion F1", ylim=(0, 1))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_recall(runs: list[LossRun], path: Path) -> None:
    plt = _pyplot()
    bins = list(runs[0].recall_by_size) if runs else []
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(runs), 1)
    x = np.arange(len(bins))
    for i, r in enumerate(runs):
        vals = [r.recall_by_size.get(b, float("nan")) for b in bins]
        ax.bar(x + i * width - 0.4 + width / 2, np.nan_to_num(vals), width, label=r.key)
    counts = runs[0].lesions_by_size if runs else {}
    ax.set_xticks(x, [f"{b}\n(n={counts.get(b, 0)})" for b in bins])
    ax.set(ylabel="lesion recall", ylim=(0, 1.05), title="Held-out lesion recall by lesion size")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_examples(runs: list[LossRun], path: Path) -> None:
    plt = _pyplot()
    ncols = max((len(r.examples) for r in runs), default=0)
    if ncols == 0:
        ncols = 1
    fig, axes = plt.subplots(len(runs), ncols, figsize=(3 * ncols, 3 * len(runs)), squeeze=False)
    for i, r in enumerate(runs):
        for j in range(ncols):
            ax = axes[i][j]
            ax.axis("off")
            if j >= len(r.examples):
                continue
            ex = r.examples[j]
            ax.imshow(ex.image.T, cmap="gray", origin="lower")
            if ex.target.any():
                ax.contour(ex.target.T, levels=[0.5], colors="lime", linewidths=1.2)
            overlay = np.ma.masked_where(ex.prediction.T < 0.5, ex.prediction.T)
            ax.imshow(overlay, cmap="autumn", alpha=0.5, origin="lower")
            ax.set_title(f"{r.key} · {ex.case}", fontsize=8)
    fig.suptitle("Held-out slices: target contour (green), prediction (red)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out_dir: str | Path, runs: list[LossRun], setting: dict) -> dict[str, Path]:
    """Write ``report.md``, ``metrics.json`` and the figures into ``out_dir``; return their paths.

    ``setting`` describes the experiment (data, network, budget, seed) and is printed in the report.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.md", "metrics": out / "metrics.json",
             "curves": out / "training_curves.png", "recall": out / "recall_by_size.png",
             "examples": out / "examples.png"}
    _plot_curves(runs, paths["curves"])
    _plot_recall(runs, paths["recall"])
    _plot_examples(runs, paths["examples"])
    metrics = {"setting": setting,
               "losses": {r.key: {"metrics": r.metrics, "recall_by_size": r.recall_by_size,
                                  "lesions_by_size": r.lesions_by_size, "train_loss": r.train_loss,
                                  "val_metric": r.val_metric} for r in runs}}
    paths["metrics"].write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    setting_lines = [f"- **{k}**: {v}" for k, v in setting.items()]
    findings = [f"- {s}" for s in _findings(runs)]
    text = "\n".join([
        "# Loss comparison on small lesions", "",
        "Every loss trained the same network from the same seed on the same data for the same budget; metrics are "
        "on held-out cases.", "", *setting_lines, "", _table(runs), "",
        "Small-lesion recall is the lesion-wise recall of the smallest size bin. Lesion-wise metrics count "
        "connected components (26-connectivity); a lesion is detected when a predicted component overlaps it.", "",
        "## Findings", "", *(findings or ["- (no lesion in the held-out cases)"]), "",
        "## Figures", "", "![training curves](training_curves.png)", "",
        "![recall by lesion size](recall_by_size.png)", "", "![examples](examples.png)", ""])
    paths["report"].write_text(text)
    return paths

