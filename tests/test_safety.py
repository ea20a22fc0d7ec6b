"""Issue 8 §6: the shipped code never evaluates or unpickles user-controlled data by itself.

MONAI's own config parser evaluates the bundles' ``$`` expressions; everything else is checked here on the syntax
tree of every shipped Python file: no ``eval``/``exec``/``compile`` call, no ``pickle``/``marshal``/``dill`` load, and
every ``torch.load`` passes ``weights_only=True``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for d in ("monai_segloss", "data_scripts", "bundles", "benchmarks")
                 for p in (ROOT / d).rglob("*.py"))
UNPICKLERS = {"pickle", "cPickle", "marshal", "dill", "joblib"}


def _violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in {"eval", "exec", "compile", "__import__"}:
            found.append(f"{f.id}() at line {node.lineno}")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if f.value.id in UNPICKLERS and f.attr in {"load", "loads", "Unpickler"}:
                found.append(f"{f.value.id}.{f.attr}() at line {node.lineno}")
            if f.value.id == "torch" and f.attr == "load":
                ok = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                         for k in node.keywords)
                if not ok:
                    found.append(f"torch.load without weights_only=True at line {node.lineno}")
    return found


def test_there_is_shipped_code_to_check():
    assert len(SHIPPED) > 20


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_eval_exec_or_unpickling(path):
    assert _violations(path) == []


def test_the_checker_finds_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle, torch\nx = eval('1')\npickle.loads(b'')\ntorch.load('f')\n"
                   "torch.load('f', weights_only=True)\n")
    assert _violations(bad) == ["eval() at line 2", "pickle.loads() at line 3",
                                "torch.load without weights_only=True at line 4"]
