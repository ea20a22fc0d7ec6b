"""The ten most common mistakes (``tests/common_mistakes.py``): each raises its exception, and the message names the
argument and the fix. The docs' "Common mistakes" page shows these messages."""

from __future__ import annotations

import pytest

from tests import common_mistakes as cm


@pytest.mark.parametrize("mistake", cm.MISTAKES, ids=[m.what for m in cm.MISTAKES])
def test_mistake_names_the_argument_and_the_fix(mistake: cm.Mistake) -> None:
    error = cm.trigger(mistake)
    assert type(error) is mistake.error, (type(error), error)
    message = str(error)
    assert mistake.argument in message, message
    assert mistake.fix in message, message


def test_ten_mistakes() -> None:
    assert len(cm.MISTAKES) == 10
