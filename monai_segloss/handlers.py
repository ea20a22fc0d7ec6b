"""Ignite handlers for training with scheduled compound losses in MONAI bundles.

A compound loss whose terms have weight schedules (e.g. the boundary-loss ramp of Kervadec et al. 2019) reads a step
or epoch counter. :class:`LossScheduleHandler` sets that counter from the trainer's state at the start of every
epoch and iteration, so the schedule follows training exactly — including after resuming from a checkpoint, where
the trainer's restored epoch sets the counter (the loss itself need not be checkpointed).
"""

from __future__ import annotations

from typing import Any

from monai.utils import optional_import

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["LossScheduleHandler"]


class LossScheduleHandler:
    """Set a scheduled loss's counters from the engine: ``loss.set_epoch(epoch - 1)`` when an epoch starts and
    ``loss.set_step(iteration - 1)`` when an iteration starts (both counters start at 0).

    In a bundle config::

        "+train#handlers": [{"_target_": "monai_segloss.handlers.LossScheduleHandler", "loss": "@loss"}]

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
