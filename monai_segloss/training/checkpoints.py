"""Resuming bundle training: find the latest interval checkpoint written by ``monai.handlers.CheckpointSaver``.

The reference bundles save ``{"model", "optimizer", "lr_scheduler", "trainer"}`` every epoch as
``<ckpt_dir>/checkpoint_epoch=<N>.pt`` and, with ``resume=true``, load the newest one through
``monai.handlers.CheckpointLoader`` (which reads it with ``torch.load(weights_only=True)``: tensors and plain
containers only, no pickled code).
"""

from __future__ import annotations

import os
import re

__all__ = ["latest_checkpoint"]

_EPOCH_FILE = re.compile(r"^(?P<prefix>.*)checkpoint_epoch=(?P<epoch>\d+)\.pt$")


def latest_checkpoint(ckpt_dir: str | os.PathLike, prefix: str = "") -> str | None:
    """The path of the interval checkpoint with the highest epoch in ``ckpt_dir``, or None when there is none.

    Args:
        ckpt_dir: folder of the checkpoints; a missing folder has no checkpoint.
        prefix: the ``file_prefix`` given to ``CheckpointSaver`` (files ``<prefix>_checkpoint_epoch=N.pt``).
            Default ``""``.

    Returns:
        the path as a string, or None.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    want = f"{prefix}_" if prefix else ""
    if not os.path.isdir(ckpt_dir):
        return None
    best: tuple[int, str] | None = None
    for name in os.listdir(ckpt_dir):
        match = _EPOCH_FILE.match(name)
        if match is None or match.group("prefix") != want:
            continue
        epoch = int(match.group("epoch"))
        if best is None or epoch > best[0]:
            best = (epoch, os.path.join(os.fspath(ckpt_dir), name))
    return None if best is None else best[1]
