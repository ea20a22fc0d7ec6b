"""The run folder of a bundle: one per loss configuration, resumed only by that configuration, always ending with a
model, and the data checked before anything trains.

The reference bundles' ``train.json`` names the run after its loss, ``run_name = run_name(@loss)`` (the loss's
registry key and a digest of its configuration, e.g. ``tversky-1a2b3c4d``), and keeps it under
``models/<run_name>/`` (checkpoints, ``model.pt``, ``run.json``) and ``eval/<run_name>/`` (evaluation, inference).
Two loss override files therefore never share a folder. Its ``run`` list then calls, in order:

1. :func:`check_bundle_data`: every training and validation case is read and checked
   (:mod:`monai_segloss.training.data_check`); a bad case stops the run before any training, one line per case;
2. :func:`start_run`: writes ``run.json`` (the loss's description) or checks it, refuses to start over a finished or
   interrupted run (pass ``--resume True``) and to resume a run of another configuration, and says why nothing is
   resumed or trained;
3. :class:`FinalModel` (attached to the trainer): at the end, ``model.pt`` holds the best validated weights, or the
   last weights when no validation ran in this run (``max_epochs`` below ``val_interval``).

Evaluation and inference read ``model.pt`` through :func:`require_model`, which names the missing file and the
command that makes it. A refusal is a :class:`RunRefused` (a ``SystemExit``): ``python -m monai.bundle`` prints its
lines and exits with status 2, without a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checkpoints import latest_checkpoint
from .data_check import DataCheckError, check_datalist

__all__ = ["RunRefused", "run_name", "start_run", "require_model", "check_bundle_data", "FinalModel", "RUN_FILE",
           "MODEL_FILE"]

RUN_FILE = "run.json"
MODEL_FILE = "model.pt"
_EPOCH = re.compile(r"checkpoint_epoch=(\d+)\.pt$")


class RunRefused(SystemExit):
    """A bundle run that stops before it does anything, with a message for the user (exit status 2)."""

    def __init__(self, *lines: str) -> None:
        super().__init__(2)
        self.lines = lines
        print("\n".join(lines), file=sys.stderr, flush=True)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def describe_loss(loss: Any) -> str:
    """The loss's configuration as text: its class and every option that differs from the default (``repr``)."""
    return f"{type(loss).__module__}.{type(loss).__qualname__}: {' '.join(repr(loss).split())}"


def run_name(loss: Any) -> str:
    """The run folder's name for ``loss``: its registry key (compound: the term names joined by ``+``; another
    module: its class name), ``-``, and 8 hex digits of :func:`describe_loss`. Equal configurations give equal
    names; any changed option gives another."""
    key = getattr(type(loss), "registry_key", None)
    if key is None:
        names = getattr(loss, "names", None)
        key = "+".join(names) if isinstance(names, list) and names else type(loss).__name__
    key = re.sub(r"[^A-Za-z0-9_+.-]", "_", str(key))
    return f"{key}-{hashlib.sha1(describe_loss(loss).encode()).hexdigest()[:8]}"


def _epoch(path: str) -> int:
    match = _EPOCH.search(path)
    return int(match.group(1)) if match else 0


def _others(ckpt_dir: Path) -> str:
    """``models/a, models/b``: the sibling run folders with a model or checkpoint."""
    if not ckpt_dir.parent.is_dir():
        return ""
    runs = sorted(str(d) for d in ckpt_dir.parent.iterdir()
                  if d.is_dir() and d != ckpt_dir and (latest_checkpoint(d) or (d / MODEL_FILE).is_file()))
    return f" (other runs: {', '.join(runs)})" if runs else ""


def start_run(ckpt_dir: str | os.PathLike, loss: Any, resume: bool, max_epochs: int) -> str | None:
    """Prepare ``ckpt_dir`` for a run of ``loss``; return the checkpoint to resume from, or None.

    - ``ckpt_dir/run.json`` records the loss configuration (:func:`describe_loss`); a folder recording another
      configuration is refused (a run never continues, or overwrites, another loss's checkpoints);
    - without ``resume``, a folder that already holds a checkpoint is refused (continue it with ``--resume True``,
      or give the new run another ``--run_name``);
    - with ``resume``: the newest ``checkpoint_epoch=N.pt``; with none, a note says so and training starts at epoch
      0; with ``N >= max_epochs`` nothing is left to train and the run is refused.

    Raises:
        RunRefused: the cases above, with the fix.
        TypeError: ``resume`` is not a bool or ``max_epochs`` not an int.
    """
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be a bool, got {resume!r}")
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int):
        raise TypeError(f"max_epochs must be an int, got {max_epochs!r}")
    folder = Path(ckpt_dir)
    described = describe_loss(loss)
    stamp = folder / RUN_FILE
    if stamp.is_file():
        try:
            recorded = json.loads(stamp.read_text()).get("loss")
        except (OSError, ValueError):
            recorded = None
        if recorded != described:
            raise RunRefused(f"error: {folder} holds a run of another loss configuration ({recorded}); this run's "
                             f"loss is {described}. Give this run its own folder: --run_name NAME (or --ckpt_dir)")
    latest = latest_checkpoint(folder)
    if not resume:
        if latest is not None:
            raise RunRefused(f"error: {folder} already holds a run of this loss configuration "
                             f"({Path(latest).name}); continue it with --resume True, or start another with "
                             f"--run_name NAME")
        checkpoint = None
    elif latest is None:
        print(f"note: --resume True: no checkpoint of this loss configuration in {folder}{_others(folder)}; "
              f"training from epoch 0", file=sys.stderr, flush=True)
        checkpoint = None
    else:
        done = _epoch(latest)
        if done >= max_epochs:
            raise RunRefused(f"error: --resume True: {latest} is at epoch {done}, max_epochs is {max_epochs}: "
                             f"nothing left to train; pass --max_epochs N with N > {done} to train further")
        print(f"resuming from {latest} (epoch {done} of {max_epochs})", file=sys.stderr, flush=True)
        checkpoint = latest
    folder.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():  # atomically: the ranks of a multi-GPU run all read it
        tmp = stamp.with_name(f".{RUN_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"loss": described}, indent=1) + "\n")
        os.replace(tmp, stamp)
    return checkpoint


def require_model(model_file: str | os.PathLike, train_hint: str = "configs/train.json") -> str:
    """``model_file`` when it exists; otherwise :class:`RunRefused` naming it and the training command.

    Args:
        model_file: the ``model.pt`` an evaluation or inference loads.
        train_hint: the config files of the training run, as given to ``--config_file``.
    """
    path = Path(model_file)
    if path.is_file():
        return str(path)
    raise RunRefused(f"error: no trained model {path}: train this loss configuration first (the same command with "
                     f"--config_file {train_hint} and the same loss override){_others(path.parent)}")


def check_bundle_data(datalist_file: str | os.PathLike, base_dir: str | os.PathLike, splits: Sequence[str],
                      num_classes: int, enabled: bool = True) -> bool:
    """:func:`~monai_segloss.training.data_check.check_datalist` for a bundle: a bad case stops the run with one
    line per case (:class:`RunRefused`). ``enabled=False`` (``--check_data False``) skips it. Returns
    ``enabled``."""
    if not isinstance(enabled, bool):
        raise TypeError(f"check_data must be a bool, got {enabled!r}")
    if not enabled:
        return False
    try:
        check_datalist(datalist_file, splits, num_classes=num_classes, base_dir=base_dir)
    except DataCheckError as err:
        raise RunRefused(f"error: {len(err.lines)} of {err.total} cases of {datalist_file} failed the data check; "
                         f"nothing was trained:", *(f"  {line}" for line in err.lines),
                         "fix or remove these cases (or skip the check: --check_data False)") from None
    except ValueError as err:
        raise RunRefused(f"error: {err}") from None
    return True


class FinalModel:
    """Ends every training run with ``save_dir/model.pt``.

    The validation's ``CheckpointSaver`` writes the best model whenever a validation improves the key metric; when
    no validation ran in this run (``max_epochs`` below ``val_interval``), this handler writes the last weights
    there at the end. Either way it prints one line saying which weights ``model.pt`` holds.

    Args:
        save_dir: the run folder (``ckpt_dir``).
        network: the trained network (its ``state_dict`` is saved, as ``CheckpointSaver`` saves a single object).
        evaluator: the validation engine.
    """

    def __init__(self, save_dir: str | os.PathLike, network: Any, evaluator: Any) -> None:
        self.path = Path(save_dir) / MODEL_FILE
        self.network = network
        self.evaluator = evaluator
        self.validations = 0

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        self.evaluator.add_event_handler(Events.COMPLETED, self._validated)
        engine.add_event_handler(Events.COMPLETED, self)

    def _validated(self, _: Any) -> None:
        self.validations += 1

    def __call__(self, engine: Any) -> None:
        import torch

        epoch = engine.state.epoch
        if self.validations == 0:
            module = getattr(self.network, "module", self.network)  # DDP
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{MODEL_FILE}.tmp")
            torch.save(module.state_dict(), tmp)
            os.replace(tmp, self.path)
            print(f"{self.path}: the last weights (epoch {epoch}; no validation ran in this run)", flush=True)
        else:
            print(f"{self.path}: the best validated weights ({self.validations} validations up to epoch {epoch})",
                  flush=True)
