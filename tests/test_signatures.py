"""The public faces of every loss: names, signatures, generated docs, runnable examples, aliases, type stubs.

Every option is declared once (``option(default, doc, check)`` in its options class); the class and the functional
form show it in ``inspect.signature`` and ``help`` with its type, default and doc line, and the committed type stubs
(``tools/generate_stubs.py``) spell out the same signatures for IDEs and type checkers.
"""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import typing
import warnings

import monai.losses
import pytest
import torch
import torch.nn

import monai_segloss
from monai_segloss import available_losses, functional, loss_class
from monai_segloss.core.options import InputOptions, RegionOptions
from monai_segloss.core.signature import option_docs
from tools import generate_stubs

KEYS = available_losses()
ACRONYMS = {"ce": "CE", "bce": "BCE", "dt": "DT", "topk": "TopK", "cldice": "ClDice", "mcc": "MCC", "nacl": "NACL"}


def camel(key: str) -> str:
    return "".join(ACRONYMS.get(part, part.capitalize()) for part in key.split("_"))


def expected_class_name(key: str) -> str:
    """``<Key>Loss``, prefixed ``Seg`` where ``monai.losses`` or ``torch.nn`` has that name."""
    name = camel(key) + "Loss"
    return "Seg" + name if hasattr(monai.losses, name) or hasattr(torch.nn, name) else name


@pytest.mark.parametrize("key", KEYS)
def test_one_stem_per_loss(key):
    cls = loss_class(key)
    fn = getattr(functional, f"{key}_loss")
    assert cls.__name__ == expected_class_name(key)
    assert cls.function is fn
    assert cls.options_cls is fn.options_cls
    assert fn.options_cls.__name__ == camel(key) + "Options"
    assert getattr(monai_segloss, cls.__name__) is cls


def test_no_exported_name_is_a_monai_loss():
    clash = sorted(n for n in monai_segloss.__all__ if hasattr(monai.losses, n))
    assert clash == []


@pytest.mark.parametrize("key", KEYS)
def test_signatures_show_every_option(key):
    cls = loss_class(key)
    fn = cls.function
    fields = {f.name: f for f in dataclasses.fields(cls.options_cls)}
    hints = typing.get_type_hints(cls.options_cls)
    cls_params = inspect.signature(cls).parameters
    fn_params = inspect.signature(fn).parameters
    assert list(fn_params)[:3] == ["input", "target", "mask"]
    assert set(cls_params) == set(fields)
    assert set(fn_params) == {"input", "target", "mask", *fn.maps, *fields}
    for name, f in fields.items():
        for p in (cls_params[name], fn_params[name]):
            assert p.kind is inspect.Parameter.KEYWORD_ONLY
            assert p.default == f.default
            assert p.annotation == hints[name]
        assert f.metadata["doc"], f"{key}: option {name} has no doc line"
    # the loss's own options come first, then the region options, then the common input options
    order = list(cls_params)
    common = [n for n in order if n in InputOptions.names()]
    assert order[-len(common):] == common
    if issubclass(cls.options_cls, RegionOptions):
        region = [n for n in RegionOptions.names() if n not in InputOptions.names()]
        assert order[-len(common) - len(region):-len(common)] == region
    assert inspect.signature(cls.__init__).parameters.keys() == {"self", *fields}


@pytest.mark.parametrize("key", KEYS)
def test_string_choices_are_literals(key):
    hints = typing.get_type_hints(loss_class(key).options_cls)
    for f in dataclasses.fields(loss_class(key).options_cls):
        if isinstance(f.default, str):
            args = typing.get_args(hints[f.name])
            literals = [a for a in (hints[f.name], *args) if typing.get_origin(a) is typing.Literal]
            assert literals, f"{key}.{f.name}: a string option must be typed with Literal[...]"
            assert f.default in {v for lit in literals for v in typing.get_args(lit)}


@pytest.mark.parametrize("key", KEYS)
def test_docs_list_every_option_once(key):
    cls = loss_class(key)
    for obj in (cls, cls.function):
        doc = inspect.getdoc(obj)
        flat = " ".join(doc.split())
        for d in option_docs(cls.options_cls):
            assert flat.count(f" {d.name} ({d.type_text}): {' '.join(d.doc.split())}") == 1, f"{obj.__name__}: {d.name}"
        for section in ("Args:", "Returns:", "Example:"):
            assert section in doc, f"{obj.__name__} has no {section} section"
    assert "Forward ``loss(input, target, mask=None" in inspect.getdoc(cls)


def _run_examples(obj) -> tuple[int, int]:
    tests = doctest.DocTestFinder(recurse=False).find(obj, obj.__name__, globs={"torch": torch})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    return runner.failures, sum(len(t.examples) for t in tests)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("face", ["class", "function"])
def test_examples_run(key, face):
    obj = loss_class(key) if face == "class" else loss_class(key).function
    failures, attempted = _run_examples(obj)
    assert attempted >= 2, f"{obj.__name__} has no runnable example"
    assert failures == 0


ALIASES = {"SoftDiceLoss": "SegDiceLoss", "SoftJaccardLoss": "JaccardLoss",
           "SoftGeneralizedDiceLoss": "SegGeneralizedDiceLoss", "SoftTverskyLoss": "SegTverskyLoss",
           "BinaryCrossEntropyLoss": "SegBCELoss", "BalancedCrossEntropyLoss": "BalancedCELoss",
           "HausdorffDistanceLoss": "SegHausdorffDTLoss", "SurfaceBoundaryLoss": "SegBoundaryLoss",
           "DiceCECompoundLoss": "SegDiceCELoss", "DiceFocalCompoundLoss": "SegDiceFocalLoss"}


@pytest.mark.parametrize(("old", "new"), sorted(ALIASES.items()))
def test_old_names_warn_and_compute_the_same(old, new):
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (2, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    y[:, :, :3, :3] = 1
    kw = {"softmax": True, "to_onehot_y": True}
    with pytest.warns(FutureWarning, match=f"{old} is deprecated.*use {new}"):
        old_loss = getattr(monai_segloss, old)(**kw)
    new_loss = getattr(monai_segloss, new)(**kw)
    assert isinstance(old_loss, type(new_loss))
    torch.testing.assert_close(old_loss(x, y), new_loss(x, y))
    assert inspect.signature(getattr(monai_segloss, old)) == inspect.signature(getattr(monai_segloss, new))


def test_old_name_in_a_bundle_config_still_resolves():
    from monai.bundle import ConfigParser

    parser = ConfigParser({"imports": ["$import monai_segloss"],
                           "loss": {"_target_": "monai_segloss.SoftDiceLoss", "softmax": True}})
    with pytest.warns(FutureWarning, match="SoftDiceLoss is deprecated"):
        loss = parser.get_parsed_content("loss")
    assert isinstance(loss, monai_segloss.SegDiceLoss)


def test_new_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for key in KEYS:
            kw = {"sigmoid": True} if key == "bce" else {"softmax": True}
            loss_class(key)(**kw)


def test_type_stubs_are_current():
    """``tools/generate_stubs.py`` writes the stubs an IDE reads; they must match the options classes."""
    for path, text in generate_stubs.stubs().items():
        assert path.read_text() == text, f"{path.name} is out of date: run python tools/generate_stubs.py"


@pytest.mark.parametrize("key", KEYS)
def test_stubs_spell_out_every_option(key):
    """What an IDE and a type checker see: each keyword with its type and default."""
    stubs = {p.parent.name: p.read_text() for p in generate_stubs.stubs()}
    cls = loss_class(key)
    for d in option_docs(cls.options_cls):
        default = "..." if callable(d.default) else repr(d.default)
        assert f"{d.name}: {d.type_text} = {default}" in stubs["losses"]
    assert f"class {cls.__name__}(" in stubs["losses"]
    assert f"def {cls.function.__name__}(input: Tensor" in stubs["functional"]
