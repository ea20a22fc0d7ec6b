"""Ignite handlers for training with scheduled compound losses in MONAI bundles.

A compound loss whose terms have weight schedules (e.g. the boundary-loss ramp of Kervadec et al. 2019) reads a step
or epoch counter. :class:`LossScheduleHandler` sets that counter from the trainer's state at the start of every
epoch and iteration, so the schedule follows training exactly — including after resuming from a checkpoint, where
the trainer's restored epoch sets the counter (the loss itself need not be checkpointed).

MONAI's ``SupervisedTrainer`` calls its loss as ``loss(pred, label)`` only. :class:`BatchMapsHandler` passes the maps
that the data pipeline precomputed (:class:`~monai_segloss.SignedDistanceMapd`,
:class:`~monai_segloss.LesionInstancesd`) from each training batch to the loss, so a training step runs no
distance transform or connected-component labelling for the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monai.utils import optional_import

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["BatchMapsHandler", "LossScheduleHandler"]


class LossScheduleHandler:
    """Set a scheduled loss's counters from the engine: ``loss.set_epoch(epoch - 1)`` when an epoch starts and
    ``loss.set_step(iteration - 1)`` when an iteration starts (both counters start at 0).

    In a bundle config::

        "+train#handlers": [{"_target_": "monai_segloss.LossScheduleHandler", "loss": "@loss"}]

    Args:
        loss: a loss with ``set_epoch(int)`` and/or ``set_step(int)`` (such as ``monai_segloss.CompoundLoss``).
        epoch: update the epoch counter. Default True.
        step: update the step counter. Default True.

    Raises:
        TypeError: the loss lacks a method that an enabled counter needs.
    """

    def __init__(self, loss: Any, epoch: bool = True, step: bool = True) -> None:
        for flag, method in ((epoch, "set_epoch"), (step, "set_step")):
            if flag and not callable(getattr(loss, method, None)):
                raise TypeError(f"loss must have a {method}(int) method (a scheduled compound loss), got "
                                f"{type(loss).__name__}")
        self.loss = loss
        self.epoch = bool(epoch)
        self.step = bool(step)

    def attach(self, engine: Any) -> None:
        """Register the counter updates on ``engine`` (an ignite ``Engine``)."""
        if self.epoch:
            engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        if self.step:
            engine.add_event_handler(Events.ITERATION_STARTED, self.iteration_started)

    def epoch_started(self, engine: Any) -> None:
        self.loss.set_epoch(engine.state.epoch - 1)

    def iteration_started(self, engine: Any) -> None:
        self.loss.set_step(engine.state.iteration - 1)


class BatchMapsHandler:
    """Pass entries of each training batch to the trainer's loss as keywords: ``loss(pred, label, **maps)``.

    Attached to a trainer (MONAI ``SupervisedTrainer``), it wraps ``engine.loss_function`` so that every call also
    receives ``{keyword: batch[key]}`` for each ``keyword: key`` of ``keys``, read from the batch of the current
    iteration (``engine.state.batch``) and moved to the label's device. With the maps computed by the transforms in
    the data loader's workers, the loss skips its own CPU distance transform or connected components::

        "+train#random_transforms": [{"_target_": "monai_segloss.SignedDistanceMapd", "keys": "label",
                                      "num_classes": "@num_classes"}],
        "+train#handlers": [{"_target_": "monai_segloss.BatchMapsHandler",
                             "keys": {"distance": "label_dist"}}]

    Put the transform after every spatial transform of the label (crops, flips), so the maps describe the label the
    loss sees. A compound loss hands each keyword to the terms that accept it.

    Args:
        keys: ``{loss keyword: batch key}``. Default ``{"distance": "label_dist"}`` (the output of
            ``SignedDistanceMapd(keys="label")``); ``{"instances": "label_instances"}`` for the blob loss.

    Raises:
        TypeError: ``keys`` is not a non-empty mapping of strings, or the engine has no ``loss_function``.
        ValueError (during training): the batch lacks one of the keys.
    """

    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        keys = {"distance": "label_dist"} if keys is None else keys
        if not isinstance(keys, Mapping) or not keys or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
            raise TypeError(f"keys must be a non-empty mapping of loss keyword -> batch key (strings), got {keys!r}")
        self.keys = dict(keys)

    def attach(self, engine: Any) -> None:
        """Wrap ``engine.loss_function`` when ``engine`` (an ignite ``Engine`` such as MONAI's ``SupervisedTrainer``)
        starts running: a trainer attaches its handlers before it sets its loss function."""
        engine.add_event_handler(Events.STARTED, self.wrap_loss)

    def wrap_loss(self, engine: Any) -> None:
        """Replace ``engine.loss_function`` by one that adds the batch maps (once: a second run keeps the wrapper)."""
        loss_function = getattr(engine, "loss_function", None)
        if getattr(loss_function, "batch_maps_handler", None) is self:
            return
        if not callable(loss_function):
            raise TypeError(f"BatchMapsHandler needs a trainer with a loss_function, got {type(engine).__name__}")

        def loss_with_maps(pred: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            return loss_function(pred, target, *args, **{**self.maps(engine.state.batch, target), **kwargs})

        loss_with_maps.batch_maps_handler = self  # type: ignore[attr-defined]
        engine.loss_function = loss_with_maps

    def maps(self, batch: Any, target: Any) -> dict[str, Any]:
        """``{keyword: batch[key]}`` on ``target``'s device."""
        if not isinstance(batch, Mapping):
            raise ValueError(f"BatchMapsHandler reads the maps from a dict batch, got {type(batch).__name__}")
        missing = [k for k in self.keys.values() if k not in batch]
        if missing:
            raise ValueError(f"the batch has no {missing} (it has {sorted(batch)}): add the transform that writes "
                             f"them (SignedDistanceMapd / LesionInstancesd) to the training transforms")
        device = getattr(target, "device", None)
        return {kw: batch[key].to(device, non_blocking=True) if device is not None else batch[key]
                for kw, key in self.keys.items()}
