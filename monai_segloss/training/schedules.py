"""Weight schedules for compound losses: callables ``step -> weight``.

The boundary loss (Kervadec 2019) is trained together with a region loss, moving the weight from the region term
to the boundary term during training: ``α·L_region + (1 - α)·L_boundary``, α starting at 1 and decreasing by 0.01
per epoch down to 0.01. :class:`LinearRamp` is that ramp, and :meth:`LinearRamp.kervadec` gives the pair of
schedules of the paper, ready for the ``"schedule"`` of two compound-loss terms.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LinearRamp"]


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return value


class LinearRamp:
    """A linear ramp of a loss weight over training steps (or epochs):

    ``w(step) = start`` for ``step <= delay``, ``end`` for ``step >= delay + length``, linear in between.

    Args:
        start: weight before the ramp. Default 0.
        end: weight after the ramp. Default 1.
        length: number of steps of the ramp; 0 jumps from ``start`` to ``end`` at ``delay``. Default 100.
        delay: steps before the ramp starts. Default 0.

    Example (JSON bundle config)::

        {"_target_": "monai_segloss.LinearRamp", "start": 0.0, "end": 0.99, "length": 99}
    """

    def __init__(self, start: float = 0.0, end: float = 1.0, length: int = 100, delay: int = 0) -> None:
        self.start = _finite("start", start)
        self.end = _finite("end", end)
        self.length = _count("length", length)
        self.delay = _count("delay", delay)

    def __call__(self, step: int | float) -> float:
        """The weight at ``step`` (an int or float count of steps or epochs)."""
        s = _finite("step", step)
        if s <= self.delay:
            return self.start if self.length > 0 or s < self.delay else self.end
        if self.length == 0 or s >= self.delay + self.length:
            return self.end
        return self.start + (self.end - self.start) * (s - self.delay) / self.length

    @classmethod
    def kervadec(cls, rate: float = 0.01, floor: float = 0.01) -> tuple[LinearRamp, LinearRamp]:
        """The schedules of Kervadec et al. (2019): ``(region, boundary)`` with region weight α going from 1 down to
        ``floor`` by ``rate`` per step (epoch) and boundary weight ``1 - α``.

        Args:
            rate: decrease of α per step. Default 0.01.
            floor: smallest α. Default 0.01.
        """
        rate, floor = _finite("rate", rate), _finite("floor", floor)
        if not 0 < rate <= 1 or not 0 <= floor < 1:
            raise ValueError(f"rate must lie in (0, 1] and floor in [0, 1), got rate={rate}, floor={floor}")
        length = max(1, round((1 - floor) / rate))
        return cls(1.0, floor, length), cls(0.0, 1 - floor, length)

    def __repr__(self) -> str:
        return f"LinearRamp(start={self.start}, end={self.end}, length={self.length}, delay={self.delay})"
