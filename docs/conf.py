"""Sphinx configuration of the monai-segloss site (``make docs``: warnings are errors)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import monai_segloss  # noqa: E402

project = "monai-segloss"
author = "monai-segloss developers"
release = monai_segloss.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "segloss_docs"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "study/full/metrics.json", "study/full/runs", "study/full_800/metrics.json",
                    "study/full_800/runs"]
html_theme = "alabaster"
html_theme_options = {"description": "Segmentation losses for 2D/3D medical images, a MONAI plugin",
                      "page_width": "1180px", "sidebar_width": "230px"}
html_static_path: list[str] = []
myst_heading_anchors = 3
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_param = False  # one field list per section; a Literal type's commas stay in its type
napoleon_custom_sections = [("Forward", "params_style")]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# the moved Markdown pages (ARCHITECTURE, nnunet, the study report, the bundles' READMEs, CHANGELOG) link to
# repository files that are not pages (sources, JSON, configs): those links stay plain links
suppress_warnings = ["myst.xref_missing", "misc.highlighting_failure"]  # and placeholder code (<key>)
smartquotes = False  # formulas and code-like text in docstrings keep their quotes
