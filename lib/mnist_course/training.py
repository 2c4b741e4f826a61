"""Training and evaluation: ``fit`` trains and returns a per-epoch history,
``evaluate`` measures a model without training it.

The inner loop never asks the device for a number (no ``.item()``): losses and
correct counts accumulate in device tensors and are read once per epoch, so a GPU
never waits for the host. A non-finite loss is therefore caught at the end of the
epoch in which it appears, and the error names the first bad batch.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import MNISTSplit, batches, random_rotate

DEVICES = ("auto", "cpu", "cuda", "mps")
SCHEDULES = ("constant", "onecycle")


@dataclass
class TrainConfig:
    """Settings of one training run (units in the comments)."""

    num_epochs: int = 15         # passes over the 60,000 training images
    batch_size: int = 128        # images per optimizer step
    lr: float = 0.01             # learning rate; the peak rate for the onecycle schedule
    momentum: float = 0.9        # SGD momentum
    nesterov: bool = False       # Nesterov momentum
    weight_decay: float = 0.0    # L2 penalty per step, as in torch.optim.SGD
    schedule: str = "constant"   # "constant" or "onecycle" (warm-up then anneal, per batch)
    max_rotation: float = 0.0    # degrees of random rotation per training image; 0 = none
    seed: int = 1                # seeds shuffling and augmentation (model init: get_model)
    device: str = "auto"         # "auto" (cuda -> mps -> cpu), "cpu", "cuda", "cuda:N", "mps"
    eval_batch_size: int = 2000  # images per evaluation batch (no gradients, so larger)


def set_seed(seed: int) -> None:
    """Seed Python's and torch's global random number generators."""
    random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str = "auto", verbose: bool = False) -> torch.device:
    """Turn "auto" | "cpu" | "cuda" | "cuda:N" | "mps" into a usable torch.device.

    "auto" picks cuda, then mps, then cpu. Raises ValueError for other names and
    RuntimeError when the requested accelerator is not available on this machine.
    """
    if not isinstance(device, str) or device.split(":")[0] not in DEVICES:
        raise ValueError(f"device={device!r} is invalid; valid: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    if device == "auto":
        if torch.cuda.is_available():
            chosen = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            chosen = torch.device("mps")
        else:
            chosen = torch.device("cpu")
        if verbose:
            print(f"device='auto' -> using {chosen}")
        return chosen
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but CUDA is not available on this machine; "
                           f"use device='auto' (falls back to the CPU) or device='cpu'")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device='mps' was requested but MPS is not available; use device='auto' or 'cpu'")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """A human-readable name of the hardware behind ``device`` (for reports)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


@torch.inference_mode()
def evaluate(model: nn.Module, split: MNISTSplit, batch_size: int = 2000) -> dict:
    """Mean cross-entropy loss and accuracy of ``model`` on ``split``, without training.

    Returns {"loss": float (nats per image), "acc": float (percent, 0-100), "n": int}.
    The model is put in eval mode (BatchNorm uses running statistics, dropout is off)
    and restored to its previous mode afterwards.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=split.X.device)
    correct = torch.zeros((), dtype=torch.long, device=split.X.device)
    for X, y in batches(split, batch_size, shuffle=False):
        logits = model(X)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    n = len(split)
    return {"loss": loss_sum.item() / n, "acc": 100.0 * correct.item() / n, "n": n}


def make_optimizer(model: nn.Module, config: TrainConfig, steps_per_epoch: int):
    """SGD with momentum, and the learning-rate schedule (stepped once per batch)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay)
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.num_epochs, steps_per_epoch=steps_per_epoch)
    elif config.schedule == "constant":
        scheduler = None
    else:
        raise ValueError(f"schedule={config.schedule!r} is invalid; valid: {', '.join(SCHEDULES)}")
    return optimizer, scheduler


def fit(model: nn.Module, train: MNISTSplit, test: MNISTSplit, config: TrainConfig,
        log=print) -> list[dict]:
    """Train ``model`` on ``train`` and evaluate on ``test`` after every epoch.

    The model is moved to the device of ``train.X`` (load the data with the device from
    :func:`resolve_device`). Training accuracy is measured on the (augmented) training
    batches as they are trained on, in train mode.
    Returns the history: one dict per epoch with epoch, train_loss, train_acc,
    test_loss, test_acc (accuracies in percent), lr (at the epoch's start), seconds
    (train + test), train_seconds, eval_seconds.
    Raises FloatingPointError naming the epoch and first batch whose loss was NaN/inf.
    ``log`` receives one line per epoch (pass ``None`` for silence).
    """
    device = train.X.device
    model.to(device)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    history = []
    for epoch in range(1, config.num_epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        batch_losses = torch.empty(steps_per_epoch, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for i, (X, y) in enumerate(batches(train, config.batch_size, shuffle=True, generator=generator)):
            X = random_rotate(X, config.max_rotation, generator)
            logits = model(X)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            batch_losses[i] = loss.detach()
            correct += (logits.detach().argmax(1) == y).sum()
        batch_losses = batch_losses.cpu()  # the one host sync of the epoch
        bad = (~torch.isfinite(batch_losses)).nonzero()
        if len(bad):
            first = int(bad[0])
            raise FloatingPointError(
                f"training diverged: the loss became {batch_losses[first].item()} in epoch {epoch}, "
                f"first at batch {first + 1} of {steps_per_epoch} (lr={config.lr}); "
                f"lower the learning rate")
        train_seconds = time.perf_counter() - start
        # Mean loss per image: batches may differ in size only at the end.
        sizes = torch.full((steps_per_epoch,), float(config.batch_size))
        sizes[-1] = len(train) - config.batch_size * (steps_per_epoch - 1)
        train_loss = float((batch_losses * sizes).sum() / len(train))
        result = evaluate(model, test, config.eval_batch_size)
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": 100.0 * correct.item() / len(train),
               "test_loss": result["loss"], "test_acc": result["acc"], "lr": lr, "seconds": seconds,
               "train_seconds": train_seconds, "eval_seconds": seconds - train_seconds}
        history.append(row)
        if log is not None:
            log(f"epoch {epoch:>2}/{config.num_epochs}  train loss {train_loss:.4f} acc {row['train_acc']:6.2f}%  "
                f"test loss {row['test_loss']:.4f} acc {row['test_acc']:6.2f}%  lr {lr:.4f}  {seconds:5.1f} s")
    return history


def summarize(history: list[dict]) -> dict:
    """Best and final figures of a history: best_train_acc, best_test_acc, best_epoch
    (epoch of the best test accuracy, first if tied), final_test_acc (percent)."""
    if not history:
        raise ValueError("history is empty: train for at least one epoch")
    best = max(history, key=lambda row: (row["test_acc"], -row["epoch"]))
    return {"best_train_acc": max(row["train_acc"] for row in history),
            "best_test_acc": best["test_acc"], "best_epoch": best["epoch"],
            "final_test_acc": history[-1]["test_acc"]}


def config_dict(config: TrainConfig) -> dict:
    """The config as a plain dict (for reports)."""
    return asdict(config)
