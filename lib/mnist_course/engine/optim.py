"""The optimizer and learning-rate schedule of a training run, from its ``TrainConfig``.

SGD with momentum or Adam; schedules: constant, one-cycle (warm-up then anneal, stepped
per batch: torch's ``OneCycleLR``; :class:`OneCycle` holds its details), step decay
(``StepLR``; :class:`StepDecay`), or one learning rate per epoch (``LambdaLR``; a
reference set-up's hand-made schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

SCHEDULES = ("constant", "onecycle", "step")  # or OneCycle(...), StepDecay(...), a tuple of per-epoch rates
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class OneCycle:
    """The one-cycle schedule (torch's ``OneCycleLR``, stepped per batch): up to the peak
    ``TrainConfig.lr``, then annealed. ``TrainConfig(schedule="onecycle")`` is ``OneCycle()``."""

    pct_start: float = 0.3       # fraction of the optimizer steps spent warming up (above 0, below 1)
    three_phase: bool = False    # Smith's original 1cycle, with a symmetric cool-down to lr / 25 by
                                 # 2 * pct_start, then annihilation to ~0 (torch's OneCycleLR)

    def check(self) -> None:
        """Raise ValueError naming the field, its value and the valid ones."""
        if isinstance(self.pct_start, bool) or not isinstance(self.pct_start, (int, float)) \
                or not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start={self.pct_start!r} is invalid in {self!r}; use a fraction of the optimizer "
                             f"steps above 0 and below 1")
        if not isinstance(self.three_phase, bool):
            raise ValueError(f"three_phase={self.three_phase!r} is invalid in {self!r}; use True or False")


@dataclass(frozen=True)
class StepDecay:
    """The step schedule (torch's ``StepLR``, stepped per epoch): the rate multiplied by
    ``gamma`` every ``step_size`` epochs. ``TrainConfig(schedule="step")`` is ``StepDecay()``."""

    step_size: int = 3           # epochs between decays (a whole number >= 1)
    gamma: float = 0.1           # decay factor (> 0)

    def check(self) -> None:
        """Raise ValueError naming the field, its value and the valid ones."""
        if isinstance(self.step_size, bool) or not isinstance(self.step_size, int) or self.step_size < 1:
            raise ValueError(f"step_size={self.step_size!r} is invalid in {self!r}; use a whole number of epochs >= 1")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or not 0 < self.gamma < math.inf:
            raise ValueError(f"gamma={self.gamma!r} is invalid in {self!r}; use a finite decay factor > 0")


SCHEDULE_NAMES = {OneCycle: "onecycle", StepDecay: "step"}  # the detailed schedules by the name of their defaults


def schedule_of(schedule):
    """``schedule`` with the names of the detailed schedules as their objects: "onecycle"
    -> ``OneCycle()``, "step" -> ``StepDecay()``; any other value as it is."""
    named = {name: kind() for kind, name in SCHEDULE_NAMES.items()}
    return named.get(schedule, schedule) if isinstance(schedule, str) else schedule


def canonical_schedule(schedule):
    """``schedule`` in its one written form, so that equal schedules compare and record
    equal: ``OneCycle()`` -> "onecycle", ``StepDecay()`` -> "step" (their defaults), a
    list of per-epoch rates -> a tuple; any other value as it is."""
    if isinstance(schedule, list):
        return tuple(schedule)
    kind = type(schedule)
    return SCHEDULE_NAMES[kind] if kind in SCHEDULE_NAMES and schedule == kind() else schedule


def make_optimizer(model: nn.Module, config, steps_per_epoch: int):
    """For ``config`` (a ``training.TrainConfig``): the optimizer, the learning-rate
    scheduler (None for a constant rate) and how often it steps ("batch" or "epoch").
    Raises ValueError naming an unknown optimizer or schedule, an invalid field of a
    :class:`OneCycle` or :class:`StepDecay`, a per-epoch schedule of the wrong length, or
    a negative weight decay."""
    if not config.weight_decay >= 0:
        raise ValueError(f"weight_decay={config.weight_decay!r} is invalid; use 0 (none) or a positive L2 factor")
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
    elif config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"optimizer={config.optimizer!r} is invalid; valid: {', '.join(OPTIMIZERS)}")
    schedule = schedule_of(config.schedule)
    if isinstance(schedule, OneCycle):
        schedule.check()
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.num_epochs, steps_per_epoch=steps_per_epoch,
            pct_start=float(schedule.pct_start), three_phase=schedule.three_phase)
        return optimizer, scheduler, "batch"
    if isinstance(schedule, StepDecay):
        schedule.check()
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=schedule.step_size, gamma=schedule.gamma)
        return optimizer, scheduler, "epoch"
    if schedule == "constant":
        return optimizer, None, None
    if isinstance(schedule, (tuple, list)):
        rates = [float(r) for r in schedule]
        if (len(rates) != config.num_epochs or min(rates) < 0 or not config.lr > 0
                or not math.isclose(rates[0], config.lr)):
            raise ValueError(f"schedule={tuple(schedule)!r} is invalid; give one learning rate >= 0 per epoch "
                             f"({config.num_epochs}), the first equal to lr={config.lr!r} (> 0)")
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: rates[min(epoch, len(rates) - 1)]
                                                      / config.lr)
        return optimizer, scheduler, "epoch"
    raise ValueError(f"schedule={config.schedule!r} is invalid; valid: {', '.join(map(repr, SCHEDULES))}, "
                     f"OneCycle(pct_start, three_phase), StepDecay(step_size, gamma) or a tuple of one learning "
                     f"rate per epoch")
