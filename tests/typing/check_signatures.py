"""Checked by mypy (``make test``), never run: what a type checker and an IDE see of the loss signatures.

Each ``# type: ignore[...]`` marks a call the stubs must reject; mypy's ``warn_unused_ignores`` turns a call they
accept into an error, so a loss whose keyword is misspelt, mistyped or outside its ``Literal`` choices fails here.
"""

import torch

import monai_segloss
from monai_segloss import FocalTverskyLoss, SegDiceCELoss, functional

x, y = torch.randn(1, 2, 4, 4), torch.randint(0, 2, (1, 1, 4, 4))

ok: torch.Tensor = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, softmax=True, to_onehot_y=True)(x, y)
ok = functional.focal_tversky_loss(x, y, gamma=2.0, softmax=True, to_onehot_y=True, reduction="sum")
ok = SegDiceCELoss(lambda_ce=0.5, batch=True, include_background=False, softmax=True, to_onehot_y=True)(x, y)
ok = monai_segloss.SegBoundaryLoss(spacing=(1.0, 1.0), softmax=True)(x, y, distance=None)

FocalTverskyLoss(gama=2)  # type: ignore[call-arg]
FocalTverskyLoss(gamma="2")  # type: ignore[arg-type]
FocalTverskyLoss(reduction="avg")  # type: ignore[arg-type]
functional.focal_tversky_loss(x, y, gama=2)  # type: ignore[call-arg]
functional.dice_loss(x, y, empty="none")  # type: ignore[arg-type]
SegDiceCELoss(reduction="none")  # type: ignore[arg-type]
