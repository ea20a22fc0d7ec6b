"""The documentation site (``make docs``): every public name has a page, every loss page renders its formula and its
figure, and the generated tables are there.

The ``docs``-marked tests read the built site in ``docs/_build/html`` (``make docs`` builds it, then runs them); the
unmarked ones run in ``make test`` and check the gallery's numbers and the page list without building anything.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest

import monai_segloss as M
import monai_segloss.functional as F
from monai_segloss.losses.base import description

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import loss_gallery  # noqa: E402
import segloss_docs  # noqa: E402


def _text(page: Path) -> str:
    """The visible text of a built page, whitespace collapsed."""
    raw = re.sub(r"<[^>]+>", " ", page.read_text())
    return " ".join(html.unescape(raw).split())


def _formula(cls: type) -> str:
    """The first sentence of a loss's description, as rendered (inline literals lose their backquotes)."""
    first = description(cls.__doc__).split("\n\n")[0]
    first = re.sub(r":([a-z]+):`~?([^`]+)`",  # a role renders as its last name component (a function with "()")
                   lambda m: m.group(2).rpartition(".")[2] + ("()" if m.group(1) == "func" else ""), first)
    return " ".join(first.replace("``", "").split())[:80]


def test_every_public_name_has_a_page_in_the_plan():
    planned = set(segloss_docs.loss_page_names().values()) | set(segloss_docs.api_page_names())
    planned |= {M.loss_class(k).function.__name__ for k in M.available_losses()}
    assert set(M.__all__) | set(F.__all__) <= planned


def test_gallery_numbers_are_the_loss_itself():
    """bce (sigmoid, mean over N voxels): dL/dp = -1/(N p) at a lesion voxel and 1/(N (1 - p)) at a background
    voxel; every voxel of either lesion gets 1/(N' p) with p = 0.3 (N = 16³, N' = 32³), so the ratio is 1."""
    curves = loss_gallery.voxel_curves("bce")
    for p, g_les, g_bg in zip(curves["p"], curves["lesion_grad"], curves["background_grad"], strict=True):
        assert g_les == pytest.approx(-1 / (16**3 * p), rel=1e-6)
        assert g_bg == pytest.approx(1 / (16**3 * (1 - p)), rel=1e-6)
    weights = loss_gallery.lesion_weights("bce")
    assert weights["small"] == pytest.approx(1 / (32**3 * 0.3), rel=1e-6)
    assert weights["large"] == pytest.approx(weights["small"], rel=1e-9)
    blob = loss_gallery.lesion_weights("blob")  # the per-lesion term weighs the small lesion's voxels more
    assert blob["small"] > 1.1 * blob["large"]


docs = pytest.mark.docs


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").exists():
        pytest.fail("the site is not built: run make docs")
    return SITE


@docs
@pytest.mark.parametrize("key", M.available_losses())
def test_loss_page_renders_formula_class_function_and_figure(site, key):
    cls = M.loss_class(key)
    page = site / "_generated" / "losses" / f"{key}.html"
    source = page.read_text()
    assert f'id="monai_segloss.{cls.__name__}"' in source
    assert f'id="monai_segloss.functional.{cls.function.__name__}"' in source
    squeeze = re.compile(r"\s+")
    assert squeeze.sub("", _formula(cls)) in squeeze.sub("", _text(page)), _formula(cls)
    images = re.findall(r'<img[^>]+src="([^"]+)"', source)
    mine = [src for src in images if re.search(rf"_images/{key}\d*\.png$", src)]
    assert mine, images
    assert (page.parent / mine[0]).resolve().is_file()


@docs
def test_every_other_public_name_has_an_api_page(site):
    for name in segloss_docs.api_page_names():
        page = site / "_generated" / "api" / f"{name}.html"
        assert page.is_file(), name
        if name != "functional":
            assert re.search(rf'id="monai_segloss(\.functional)?\.{name}"', page.read_text()), name


@docs
def test_pages_and_tables(site):
    index = (site / "index.html").read_text()
    assert re.search(r'<img[^>]+src="_images/region_summary\d*\.png"', index)
    monai = _text(site / "coming_from_monai.html")
    assert "MONAI class cases equal documented difference refused" in monai
    assert "NACLLoss 7 7 0 0" in monai
    errors = (site / "errors.html").read_text()
    assert errors.count("<td><p>ValueError</p></td>") + errors.count("<td><p><code") >= 10
    assert "did you mean" in _text(site / "errors.html")
    study = site / "study" / "full" / "report.html"
    figures = re.findall(r'<img[^>]+src="([^"]+\.png)"', study.read_text())
    committed = sorted(p.name for p in (ROOT / "docs" / "study" / "full").glob("*.png"))
    assert sorted({Path(f).name.rstrip("0123456789") for f in figures}) or committed  # figures rendered
    assert len(figures) >= len(committed)
    for page in ("quickstart", "which_loss", "losses", "bundles", "nnunet_quick", "nnunet", "performance",
                 "ARCHITECTURE", "api", "changelog"):
        assert (site / f"{page}.html").is_file(), page
