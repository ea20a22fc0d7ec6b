"""The benchmark's smoke mode: the table and the JSON file have the documented shape (never checks a timing)."""

from __future__ import annotations

import json

import pytest

import monai_segloss
from benchmarks import bench_losses as bench


def test_quick_bench_outputs(tmp_path):
    assert bench.main(["--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench_cpu_quick.json").read_text())
    keys = monai_segloss.available_losses()
    rows = data["rows"]
    assert data["meta"]["device"] == "cpu" and data["meta"]["columns"] == bench.COLUMNS
    assert sorted((r["key"], r["dim"]) for r in rows) == sorted((k, d) for k in keys for d in ("2d", "3d"))
    for r in rows:
        assert r["shape"][1] == 3 and len(r["shape"]) == {"2d": 4, "3d": 5}[r["dim"]]
        if r["key"] in bench.TARGET_KEYS:  # our own region losses must always run
            assert r["error"] is None, r
        if r["error"]:
            continue
        has_monai = r["monai"] is not None
        impls = {"ours", "ce", "floor"} | ({"monai"} if has_monai else set())
        assert set(r["time_ms"]) == impls and set(r["mem_mb"]) == impls
        assert set(r["time_ratio"]) == set(r["mem_ratio"]) == impls - {"ours"}
        assert all(v > 0 for v in r["time_ms"].values()) and r["reps"] == 2
        assert (r["rel_diff"] is not None) == (has_monai and bench.SPECS[r["key"]][1].same_value)
        assert r["target"] == ""  # verdicts only at the full 3D size
    lines = (tmp_path / "bench_cpu_quick.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert [c.strip() for c in table[0].strip("|").split("|")] == bench.COLUMNS
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == len(bench.COLUMNS) + 1 for line in table)


def test_parse_shape_and_unknown_key(tmp_path):
    assert bench._parse_shape("2x64x64x64") == (2, 64, 64, 64)
    try:
        bench.main(["--quick", "--keys", "no_such_loss", "--out", str(tmp_path)])
    except SystemExit as err:
        assert "no_such_loss" in str(err)
    else:
        raise AssertionError("an unknown key must be refused")


def test_memory_child_process():
    """The per-row child process measures a fresh interpreter's peak; the floor's extra is about its gradient."""
    case = {"key": "dice", "kwargs": bench.LABEL_KW, "b": 2, "c": 3, "spatial": [64, 64, 64],
            "impls": ["ours", "floor"], "monai": None}
    (res,) = bench.measure_memory_in_child([case], runs=1, device="cpu", threads=1)
    grad_bytes = 2 * 3 * 64 ** 3 * 4
    assert "error" not in res, res
    assert 0.8 * grad_bytes <= res["floor"] <= 2.0 * grad_bytes
    assert res["ours"] >= 0.8 * grad_bytes


def test_quick_peers_table_and_readme(tmp_path):
    """bench_peers' smoke mode: rows for every (loss, configuration), a verdict each, the README summary replaced
    between its markers (twice: idempotent), the plot written. Without nnunetv2 the nnU-Net columns stay empty."""
    from benchmarks import bench_peers as peers

    readme = tmp_path / "README.md"
    readme.write_text("# title\n\ntext\n")
    args = ["--quick", "--keys", "dice", "dice_ce", "tversky", "--channels", "3", "--dims", "2d", "--threads", "1",
            "--out", str(tmp_path), "--readme", str(readme)]
    assert peers.main(args) == 0
    assert peers.main(args) == 0
    data = json.loads((tmp_path / "peers_cpu_quick.json").read_text())
    rows = data["rows"]
    assert sorted((r["key"], r["variant"]) for r in rows) == sorted(
        (k, v) for k in ("dice", "dice_ce", "tversky") for v in peers.VARIANTS)
    with_nnunet = peers.nnunet_available()
    for r in rows:
        assert r["error"] is None, r
        expected = set(peers.impls_for(r["key"], with_nnunet))
        assert set(r["ms"]) == expected and set(r["mib"]) == expected
        assert ("nnunet" in expected) == (with_nnunet and r["key"] in ("dice", "dice_ce"))
        assert r["verdict"] == "ok" or r["verdict"].startswith("MISS")
        for impl, diff in r["rel_diff"].items():  # the same quantity: the same value (nnU-Net's is -Dice)
            assert diff < 1e-5, (r["key"], impl, diff)
        # the floor is timed beside the losses, outside the peers' ratios and the memory columns
        assert r["floor_ms"] > 0 and r["floor_ratio"] > 0 and peers.FLOOR not in r["time_ratio"]
        lo, hi = r["floor_ratio_range"]
        assert lo <= r["floor_ratio"] <= hi
    small = data["small_rows"]  # the fixed cost: every key and configuration at both small shapes
    assert sorted((r["key"], r["variant"], tuple(r["shape"])) for r in small) == sorted(
        (k, v, s) for k in ("dice", "dice_ce", "tversky") for v in peers.VARIANTS for s in peers.SMALL_SHAPES)
    for r in small:
        assert r["error"] is None and "monai" in r["time_ratio"], r
        assert r["verdict"] == ("ok" if r["time_ratio"]["monai"] <= peers.SMALL_TARGET else
                                f"MISS time {r['time_ratio']['monai']:.2f}")
    text = readme.read_text()
    assert text.count(peers.README_START) == 1 and text.count(peers.README_END) == 1
    assert "| dice_ce | nobg+batch |" in text and (tmp_path / "peers_cpu_quick.png").stat().st_size > 0
    assert "Fixed cost per call" in text and "× floor" in text
    table = (tmp_path / "peers_cpu_quick.md").read_text()
    assert "| ours / floor |" in table and "Floor: one torch.softmax over the channels" in table


def test_softmax_floor_is_one_softmax_and_one_label_read():
    """The floor's value is the number of voxels (a softmax sums to 1 over the channels); its gradient is the
    softmax's backward of a constant sum: zero."""
    import torch

    from benchmarks.bench_peers import softmax_floor

    x = torch.randn(2, 3, 5, 4, requires_grad=True)
    y = torch.randint(0, 3, (2, 1, 5, 4))
    value = softmax_floor(x, y)
    assert value.item() == pytest.approx(2 * 5 * 4)
    value.backward()
    assert x.grad is not None and x.grad.abs().max().item() < 1e-6



def test_count_work_is_deterministic_and_renders(tmp_path):
    """benchmarks/count_work.py: counts (not timings) of one forward + backward, the same on every run."""
    from benchmarks import count_work

    first = count_work.rows(["dice"], log=lambda s: None)
    again = count_work.rows(["dice"], log=lambda s: None)
    assert first == again and all("error" not in r for r in first)
    assert {r["impl"] for r in first} == {"ours", "monai"}
    assert all(r["reads"] == 0 and r["asserts"] == 1 for r in first if r["impl"] == "ours")
    table = [line for line in count_work.render(first).splitlines() if line.startswith("| 2")]
    assert len(table) == sum(r["impl"] == "ours" for r in first)
