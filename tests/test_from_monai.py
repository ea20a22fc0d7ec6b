"""``from_monai``: MONAI 1.6.1's own test vectors run through it (``tests/monai_vector_run.py``), and its refusals.

Every case is equal to MONAI's value, a documented difference whose relation holds, or refused with a message
naming the argument and the fix; an undocumented difference fails.
"""

from __future__ import annotations

import pytest
import torch

import monai_segloss as M
from monai_segloss.losses.from_monai import MONAI_NOT_TRANSLATED, MONAI_TRANSLATIONS
from tests import monai_vector_run as run


@pytest.fixture(scope="module")
def results() -> list[run.CaseResult]:
    return list(run.run_all())


def test_no_undocumented_difference(results):
    bad = [r for r in results if r.outcome == "undocumented"]
    assert not bad, "\n".join(f"{r.monai}[{r.index}]: {r.detail}" for r in bad)


def test_the_vector_table(results):
    """The counts the docs show (class | cases | equal | documented | refused); a change here is a change of
    behaviour to record."""
    got = {name: counts for name, *counts in run.table(results)}
    assert got == {
        "DiceLoss": [17, 17, 0, 0], "MaskedDiceLoss": [10, 9, 1, 0], "GeneralizedDiceLoss": [13, 13, 0, 0],
        "TverskyLoss": [16, 16, 0, 0], "FocalLoss": [10, 8, 2, 0], "DiceCELoss": [7, 0, 1, 6],
        "DiceFocalLoss": [54, 0, 0, 54],
        "GeneralizedDiceFocalLoss": [54, 0, 0, 54], "HausdorffDTLoss": [13, 13, 0, 0],
        "LogHausdorffDTLoss": [13, 13, 0, 0], "BoundaryLoss": [11, 9, 2, 0], "MCCLoss": [13, 13, 0, 0],
        "NACLLoss": [7, 7, 0, 0], "GeneralizedWassersteinDiceLoss": [22, 22, 0, 0], "SoftclDiceLoss": [2, 2, 0, 0],
        "SoftDiceclDiceLoss": [2, 2, 0, 0], "AsymmetricUnifiedFocalLoss": [2, 0, 0, 2]}


def test_every_translated_class_has_vectors():
    assert set(run.VECTORS) == set(MONAI_TRANSLATIONS) | set(MONAI_NOT_TRANSLATED)


def test_monai_test_files_that_1_6_1_does_not_reproduce(results):
    """Where MONAI 1.6.1 itself does not give the value of the test file the vector was copied from (an older
    release's MaskedDiceLoss test), the reference is 1.6.1's value: exactly these cases."""
    assert [(r.monai, r.index) for r in results if r.note] == [("MaskedDiceLoss", 0), ("MaskedDiceLoss", 1),
                                                                ("MaskedDiceLoss", 3)]


def test_refusals_name_the_argument_and_the_fix():
    with pytest.raises(ValueError, match=r"DiceCELoss without an activation .* pass softmax=True"):
        M.from_monai("DiceCELoss", to_onehot_y=True)
    with pytest.raises(ValueError, match=r"sigmoid focal loss .* pass sigmoid=True"):
        M.from_monai("DiceFocalLoss", softmax=True)
    with pytest.raises(ValueError, match=r"BoundaryLoss\(batch=True\)"):
        M.from_monai("BoundaryLoss", batch=True)
    with pytest.raises(ValueError, match=r"NACLLoss has no softmax argument.*drop softmax=False"):
        M.from_monai("NACLLoss", classes=3, dim=2, softmax=False)
    with pytest.raises(ValueError, match=r"AsymmetricUnifiedFocalLoss is not reproduced: .* use get_loss"):
        M.from_monai("AsymmetricUnifiedFocalLoss")
    with pytest.raises(ValueError, match=r"name 'FancyLoss' is not a MONAI loss class .* translated: \['BoundaryLoss'"):
        M.from_monai("FancyLoss")
    with pytest.raises(TypeError, match="name must be"):
        M.from_monai(M.SegDiceLoss)  # type: ignore[arg-type]


def test_translations_carry_monai_defaults():
    assert M.from_monai("TverskyLoss").options.alpha == 0.5
    assert M.from_monai("monai.losses.TverskyLoss").options.beta == 0.5
    assert M.from_monai("MCCLoss").options.empty == "smooth"
    assert M.from_monai("HausdorffDTLoss").options.include_background is False
    nacl = M.from_monai("NACLLoss", classes=3, dim=2).options
    assert nacl.softmax and nacl.to_onehot_y
    import numpy as np
    w = M.from_monai("GeneralizedWassersteinDiceLoss", dist_matrix=np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert w.options.softmax and w.options.to_onehot_y


def test_nacl_takes_monai_forward_keywords():
    """MONAI's NACLLoss.forward(inputs, targets): the same value as ours positionally; both or neither is an error.
    Without softmax/to_onehot_y the value is another quantity (1.1394 for MONAI's first vector, MONAI 1.1442)."""
    from tests.monai_vectors import NACL_CASES
    kw, data, expected = NACL_CASES[0]
    loss = M.from_monai("NACLLoss", **kw)
    assert float(loss(**data)) == pytest.approx(expected, abs=1e-4)
    torch.testing.assert_close(loss(**data), loss(data["inputs"], data["targets"]))
    with pytest.raises(TypeError, match="exactly one"):
        loss(data["inputs"], data["targets"], inputs=data["inputs"])
    with pytest.raises(TypeError, match="needs target"):
        loss(data["inputs"])
    # without from_monai's softmax, logits in [0, 1] are read as probabilities: another quantity
    assert float(M.SegNACLLoss(to_onehot_y=True, **kw)(**data)) == pytest.approx(1.1394, abs=1e-4)


def test_dice_ce_without_activation_warns_with_the_fix():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    y = torch.tensor([[[0, 1]]])
    with pytest.warns(UserWarning, match="pass softmax=True .* or softmax=False to state"):
        M.SegDiceCELoss(to_onehot_y=True)
    with pytest.warns(UserWarning, match="no activation"):
        M.functional.dice_ce_loss(x, y, to_onehot_y=True)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.SegDiceCELoss(to_onehot_y=True, softmax=False)(x, y)  # stated: probabilities
        M.SegDiceCELoss(to_onehot_y=True, softmax=True)(x, y)


def test_from_monai_docstring_example_runs():
    import doctest

    from monai_segloss.losses import from_monai as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
