"""The package as a user installs it: the wheel's contents, and the wheel at work in a fresh virtual environment.

``test_wheel_in_a_fresh_venv`` builds a wheel from the repository's tracked files, installs it (with the ``bundle``
and ``demo`` extras and ``torch==2.13.0``) in a virtual environment without system site-packages, and from an
empty folder, with no source tree in reach, runs the data scripts, ``monai-segloss profile``, ``monai-segloss demo
--quick`` and a shipped bundle through ``python -m monai.bundle run``. The environment is cached under
``build/wheel-test/`` (keyed by pyproject.toml, the Python version and the torch spec; only the wheel is reinstalled
on a later run), so the first run pays the installation and later runs about a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")
TINY = {
    "network_def#channels": [4, 8],
    "network_def#strides": [2],
    "network_def#num_res_units": 0,
    "patch_size": [16, 16, 16],
    "num_workers": 0,
    "num_samples": 1,
    "batch_size": 2,
}


def _source_dir(package: str) -> Path:
    return REPO / SETUPTOOLS.get("package-dir", {}).get(package, package.replace(".", "/"))


def test_every_package_folder_is_listed():
    """Every folder of monai_segloss/ with an ``__init__.py`` is in ``[tool.setuptools] packages`` (a forgotten one
    would be missing from the wheel), and every listed package has its folder."""
    listed = set(SETUPTOOLS["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "monai_segloss").rglob("__init__.py")}
    assert on_disk - listed == set()
    assert all((_source_dir(p) / "__init__.py").is_file() for p in listed)
    assert {"monai_segloss.bundles", "monai_segloss.data_scripts"} <= listed


def test_one_version_source():
    """The version is written once (``monai_segloss.__version__``), and pyproject.toml reads it from there."""
    import monai_segloss

    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "monai_segloss.__version__"}
    assert monai_segloss.__version__.count(".") >= 2
    assert PYPROJECT["project"]["license"] == "Apache-2.0" and (REPO / "LICENSE").is_file()


def test_shipped_bundles_and_export(tmp_path, capsys):
    """The bundles are found through the import system (no source-tree search); export copies the bundle's own
    files only, refuses a non-empty folder without --overwrite."""
    from monai_segloss.app.cli import main
    from monai_segloss.app.shipped import BUNDLE_PARTS, available_bundles, bundle_dir, export_bundle

    assert available_bundles() == ["lesion_focal_tversky", "organ_tumour_unified_focal"]
    assert bundle_dir("lesion_focal_tversky") == REPO / "bundles" / "lesion_focal_tversky"  # editable install
    with pytest.raises(ValueError, match="no shipped bundle named 'nope'; available: lesion_focal_tversky"):
        bundle_dir("nope")
    out = export_bundle("organ_tumour_unified_focal", tmp_path / "b")
    assert sorted(p.name for p in out.iterdir()) == sorted(BUNDLE_PARTS)
    assert (out / "configs" / "train.json").read_bytes() == (
        REPO / "bundles" / "organ_tumour_unified_focal" / "configs" / "train.json"
    ).read_bytes()
    with pytest.raises(ValueError, match="exists and is not empty"):
        export_bundle("organ_tumour_unified_focal", out)
    assert export_bundle("organ_tumour_unified_focal", out, overwrite=True) == out

    assert main(["bundle", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("lesion_focal_tversky\t")
    assert main(["bundle", "export", "lesion_focal_tversky", str(tmp_path / "c")]) == 0
    assert "python -m monai.bundle run --config_file" in capsys.readouterr().out
    assert main(["bundle", "export", "lesion_focal_tversky", str(tmp_path / "c")]) == 2
    assert "error: " in capsys.readouterr().err


def test_command_line_imports_no_torch_and_names_modules_as_run():
    """``monai-segloss --help`` and ``bundle list`` come from ``monai_segloss_cli``, which imports neither torch nor
    the package (so they answer at once); the data scripts' usage lines name the module as it was run."""
    probe = ("import contextlib, io, sys, monai_segloss_cli as c\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
             "    c.main(['bundle', 'list'])\n"
             "    try:\n"
             "        c.main(['--help'])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print('torch' in sys.modules, 'monai_segloss' in sys.modules,\n"
             "      out.getvalue().count('lesion_focal_tversky\\t'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "1"]
    from monai_segloss.data_scripts import nnunet_raw, synthetic

    assert synthetic._parser().prog == "python -m monai_segloss.data_scripts.synthetic"
    assert nnunet_raw._parser().prog == "python -m monai_segloss.data_scripts.nnunet_raw"


def _tracked_copy(dest: Path) -> Path:
    """The repository's tracked (and untracked, not ignored) files, as a fresh clone would hold them: nothing
    built, cached or generated in the checkout reaches the wheel."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _run(cmd: list, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run ``cmd``; its stdout (stdout and stderr in the failure message)."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _fresh_venv(env: dict[str, str]) -> Path:
    """A virtual environment (no system site-packages) with torch and the dependencies, cached by what decides
    its contents."""
    key = hashlib.sha256(f"{sys.version}|{TORCH_SPEC}|".encode() + (REPO / "pyproject.toml").read_bytes())
    root = REPO / "build" / "wheel-test" / f"venv-{key.hexdigest()[:12]}"
    if not (root / ".ready").is_file():
        for old in root.parent.glob("venv-*"):  # environments of an earlier pyproject.toml (about 1.5 GB each)
            shutil.rmtree(old, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(root)
        _run([root / "bin" / "python", "-m", "pip", "install", "-q", TORCH_SPEC], REPO, env)
    return root


@pytest.mark.slow
def test_wheel_in_a_fresh_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore:Editable installation")
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, _tracked_copy(tmp_path / "src")],
        tmp_path,
        env,
    )
    (wheel,) = dist.glob("monai_segloss-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        f"monai_segloss/{p.relative_to(REPO / 'monai_segloss').as_posix()}"
        for p in (REPO / "monai_segloss").rglob("*.py*")
        if "__pycache__" not in p.parts
    }
    sources |= {f"monai_segloss/data_scripts/{p.name}" for p in (REPO / "data_scripts").glob("*.py")}
    assert sources - names == set()  # every module, the type stubs and py.typed
    assert "monai_segloss/bundles/lesion_focal_tversky/configs/train.json" in names
    assert "monai_segloss/app/study_evidence.json" in names  # profile cites it
    assert not any(n.startswith(("tests/", "benchmarks/", "bundles/", "data_scripts/", "tools/")) for n in names)

    root = _fresh_venv(env)
    py, cli = root / "bin" / "python", root / "bin" / "monai-segloss"
    _run([py, "-m", "pip", "install", "-q", f"{wheel}[bundle,demo]", TORCH_SPEC], tmp_path, env)
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], tmp_path, env)
    (root / ".ready").touch()
    work = tmp_path / "work"  # an empty folder: no checkout in reach
    work.mkdir()
    where = _run(
        [py, "-c", "import monai_segloss, torch; print(monai_segloss.__file__); print(torch.__version__)"], work, env
    )
    site = next((root / "lib").glob("python3*/site-packages"))
    assert where.splitlines()[0] == str(site / "monai_segloss" / "__init__.py")
    assert _run([py, "-m", "pip", "list"], work, env).lower().count("nvidia") == 0

    _run(
        [
            py,
            "-m",
            "monai_segloss.data_scripts.synthetic",
            "--task",
            "lesion",
            "--out",
            "data",
            "--cases",
            "7",
            "--shape",
            "24",
            "24",
            "16",
            "--val-frac",
            "0.3",
        ],
        work,
        env,
    )
    profile = json.loads(_run([cli, "profile", "data", "--json"], work, env))
    splits = json.loads((work / "data" / "dataset.json").read_text())
    assert profile["profile"]["num_cases"] == len(splits["training"]) + len(splits["validation"]) == 6  # not test
    evidence = json.loads((REPO / "monai_segloss" / "app" / "study_evidence.json").read_text())
    recommendation = profile["recommendation"]  # heavy imbalance, one lesion class: the study's validation winner
    assert recommendation["loss"] == evidence["validation_best"]
    assert any("report.md of `monai-segloss study --setting full`" in r for r in recommendation["reasons"])

    _run([cli, "bundle", "export", "lesion_focal_tversky", "bundle"], work, env)
    cmd = [
        py,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "bundle/configs/train.json",
        "--bundle_root",
        "bundle",
        "--meta_file",
        "bundle/configs/metadata.json",
        "--dataset_dir",
        "data",
        "--max_epochs",
        "1",
        "--val_interval",
        "1",
    ]
    for k, v in TINY.items():
        cmd += [f"--{k}", json.dumps(v)]
    _run(cmd, work, env)
    (run,) = (work / "bundle" / "models").iterdir()  # the run folder, named for the loss configuration
    assert run.name.startswith(f"{evidence['validation_best']}-") and (run / "checkpoint_epoch=1.pt").is_file()

    _run([cli, "demo", "--quick", "--losses", "dice", "--out", "report", "--cache-dir", "cache"], work, env)
    metrics = json.loads((work / "report" / "metrics.json").read_text())
    assert set(metrics["table"]) == {"dice"} and metrics["timing"]["runs_executed"] == 1
    assert str(work) not in (work / "report" / "report.md").read_text()  # no absolute path of the machine
    where_bundle = "from monai_segloss.app.shipped import bundle_dir; print(bundle_dir('lesion_focal_tversky'))"
    located = _run([py, "-c", where_bundle], work, env)
    assert located.strip() == str(site / "monai_segloss" / "bundles" / "lesion_focal_tversky")  # the wheel's copy
