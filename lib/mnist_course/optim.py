"""The optimizer and learning-rate schedule of a training run, from its ``TrainConfig``.

SGD with momentum or Adam; schedules: constant, one-cycle (warm-up then anneal, stepped
per batch: torch's ``OneCycleLR``), step decay (``StepLR``), or one learning rate per
epoch (``LambdaLR``; a reference set-up's hand-made schedule).
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("constant", "onecycle", "step")  # or a tuple of per-epoch learning rates
OPTIMIZERS = ("sgd", "adam")


def make_optimizer(model: nn.Module, config, steps_per_epoch: int):
    """For ``config`` (a ``training.TrainConfig``): the optimizer, the learning-rate
    scheduler (None for a constant rate) and how often it steps ("batch" or "epoch").
    Raises ValueError naming an unknown optimizer or schedule, a per-epoch schedule of
    the wrong length, or a negative weight decay."""
    if not config.weight_decay >= 0:
        raise ValueError(f"weight_decay={config.weight_decay!r} is invalid; use 0 (none) or a positive L2 factor")
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
    elif config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"optimizer={config.optimizer!r} is invalid; valid: {', '.join(OPTIMIZERS)}")
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.num_epochs, steps_per_epoch=steps_per_epoch,
            pct_start=config.pct_start, three_phase=config.three_phase)
        return optimizer, scheduler, "batch"
    if config.schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
        return optimizer, scheduler, "epoch"
    if config.schedule == "constant":
        return optimizer, None, None
    if isinstance(config.schedule, (tuple, list)):
        rates = [float(r) for r in config.schedule]
        if (len(rates) != config.num_epochs or min(rates) < 0 or not config.lr > 0
                or not math.isclose(rates[0], config.lr)):
            raise ValueError(f"schedule={tuple(config.schedule)!r} is invalid; give one learning rate >= 0 per epoch "
                             f"({config.num_epochs}), the first equal to lr={config.lr!r} (> 0)")
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: rates[min(epoch, len(rates) - 1)]
                                                      / config.lr)
        return optimizer, scheduler, "epoch"
    raise ValueError(f"schedule={config.schedule!r} is invalid; valid: {', '.join(SCHEDULES)}")
