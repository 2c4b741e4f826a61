"""Training and evaluation: ``fit`` trains and returns a per-epoch history,
``evaluate`` measures a model without training it.

The inner loop never asks the device for a number (no ``.item()``): losses and
correct counts accumulate in device tensors and are read once per epoch, so a GPU
never waits for the host. A non-finite loss is therefore caught at the end of the
epoch in which it appears, and the error names the first bad batch.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from .augmentation import Augmentation
from .checkpoints import save_weights
from .data import MNISTSplit, batch_indices, batches
from .optim import SCHEDULE_NAMES, OneCycle, StepDecay, canonical_schedule, make_optimizer, schedule_of

DEVICES = ("auto", "cpu", "cuda", "mps")
LOSSES = ("cross_entropy", "binary")


@dataclass
class TrainConfig:
    """Settings of one training run (units in the comments). The device is the data's:
    ``fit`` trains where ``train.X`` lives. What only some runs use comes as a piece of its
    own: the schedule's details (``optim.OneCycle``, ``optim.StepDecay``) as ``schedule``,
    more augmentation (``augmentation.Augmentation``) and :class:`Extras` as ``fit``'s
    ``augment`` and ``extras``."""

    num_epochs: int = 15         # passes over the training images
    batch_size: int = 128        # images per optimizer step
    lr: float = 0.01             # learning rate; the peak rate for the onecycle schedule
    momentum: float = 0.9        # SGD momentum
    weight_decay: float = 0.0    # L2 penalty per optimizer step (torch's weight_decay: the gradient
                                 # gains weight_decay x weight), on every parameter; 0 = none
    optimizer: str = "sgd"       # "sgd" (with momentum) or "adam" (momentum unused)
    schedule: str | tuple | OneCycle | StepDecay = "constant"  # "constant", "onecycle" (warm-up then
                                 # anneal, per batch: OneCycle()), "step" (multiply by gamma every
                                 # step_size epochs: StepDecay()), a OneCycle or StepDecay with other
                                 # details, or one learning rate per epoch (a tuple of num_epochs
                                 # rates; lr = the first)
    loss: str = "cross_entropy"  # "cross_entropy" (logits (N, C)) or "binary" (one logit (N,), labels 0/1)
    max_rotation: float = 0.0    # degrees of random rotation per training image; 0 = none
    max_shift: int = 0           # pixels: each training image shifted by a whole number of pixels
                                 # within +-max_shift along x and along y (0 to 13; 0 = none)
    teacher: str = ""            # knowledge distillation: the name of a teacher in distill.TEACHERS whose
                                 # logits on the (unaugmented) training images fit receives as
                                 # teacher_logits; "" = none
    distill_weight: float = 0.0  # share of the loss that is the distillation term (0 = plain cross-entropy;
                                 # needs a teacher): (1 - w) x cross-entropy + w x distillation_loss
    distill_temperature: float = 4.0  # softmax temperature T of that term (Hinton et al. 2015: soft
                                 # targets at T > 1 show which wrong classes the teacher finds close)
    seed: int = 1                # seeds shuffling and augmentation (model init: steps.build_model)
    eval_batch_size: int | None = None  # images per evaluation batch; None: per device (below)


@dataclass(frozen=True)
class Extras:
    """Changes of the training loop that only some runs make, passed as ``fit(...,
    extras=Extras(...))``; ``None`` or ``Extras()`` = all off. :meth:`check` names an
    invalid field before training."""

    label_smoothing: float = 0.0  # cross_entropy, training only: the target puts 1 - label_smoothing
                                 # + label_smoothing / C on the true class and label_smoothing / C on
                                 # each other (torch's F.cross_entropy); evaluation uses plain targets
    clean_last_epochs: int = 0   # the last this-many epochs train on the images as they are: no
                                 # augmentation at all (0 = augment every epoch); the model ends on the
                                 # distribution it is tested on, at a small learning rate (as YOLOX
                                 # turns its augmentation off at the end)
    train_mode_first_epoch_only: bool = False  # reproduces a bug of reference 1's source: training
                                 # mode set once before epoch 1, evaluation leaving the model in eval
                                 # mode, so from epoch 2 on dropout is off (and BatchNorm frozen)
    ema_decay: float = 0.0       # weight averaging: after every optimizer step the evaluated copy of
                                 # the model moves 1 - ema_decay of the way to the trained one (an
                                 # exponential moving average, Polyak averaging); 0 = off. 0.999 averages
                                 # over ~1,000 optimizer steps, about one epoch at batch 64
    precise_bn: bool = False     # after every epoch, with the weights fixed, BatchNorm's running mean and
                                 # variance are recomputed as the average over all training images as
                                 # they are (no augmentation) in batches of batch_size, instead of the
                                 # moving average of the last ~10 augmented batches ("PreciseBN": Wu &
                                 # Johnson, "Rethinking 'Batch' in BatchNorm", 2021, section 3); the
                                 # trained weights and the random stream are unchanged

    def check(self, num_epochs: int, loss: str = "cross_entropy") -> None:
        """Raise ValueError naming the field, its value and the valid ones (for a run of
        ``num_epochs`` with ``loss``)."""
        check_label_smoothing(self.label_smoothing, loss)
        clean = self.clean_last_epochs
        if isinstance(clean, bool) or not isinstance(clean, int) or not 0 <= clean <= num_epochs:
            raise ValueError(f"clean_last_epochs={clean!r} is invalid; use a whole number of epochs from 0 "
                             f"to num_epochs={num_epochs}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay={self.ema_decay!r} is invalid; use 0 (no weight averaging) or a "
                             f"decay from 0 to below 1, e.g. 0.999")
        if self.precise_bn and self.train_mode_first_epoch_only:
            raise ValueError("precise_bn=True is invalid with train_mode_first_epoch_only=True: that mode trains "
                             "from epoch 2 on with the running statistics, which PreciseBN would then change; "
                             "set one of them to False")


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


def check_label_smoothing(label_smoothing: float, loss: str) -> None:
    """Raise ValueError unless ``label_smoothing`` is from 0 to below 1 with the
    cross_entropy loss, or 0 with any other."""
    if not 0 <= label_smoothing < 1 or (loss != "cross_entropy" and label_smoothing):
        raise ValueError(f"label_smoothing={label_smoothing!r} is invalid for loss={loss!r}; valid: 0 to below 1 "
                         f"with cross_entropy, 0 with binary")


def loss_and_correct(logits: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy", reduction: str = "mean",
                     label_smoothing: float = 0.0):
    """The loss and the number of correct predictions (a device tensor, not synced).

    "cross_entropy": logits (N, C), prediction = argmax; ``label_smoothing`` as in
    torch's F.cross_entropy (0 = one-hot targets). "binary": one logit per image (N,),
    labels 0/1, binary cross-entropy on sigmoid(logit), prediction = logit > 0; it takes
    no label smoothing. Raises ValueError for another loss or label smoothing outside [0, 1).
    """
    if label_smoothing:  # fit checks its setting once; the default costs nothing per batch
        check_label_smoothing(label_smoothing, loss)
    if loss == "binary":
        value = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction=reduction)
        return value, ((logits > 0).long() == y).sum()
    if loss == "cross_entropy":
        value = F.cross_entropy(logits, y, reduction=reduction, label_smoothing=label_smoothing)
        return value, (logits.argmax(1) == y).sum()
    raise ValueError(f"loss={loss!r} is invalid; valid: {', '.join(LOSSES)}")


def check_distillation(config: TrainConfig) -> None:
    """Raise ValueError naming the TrainConfig field, its value and the valid ones when the
    distillation settings are inconsistent: a weight outside [0, 1], a weight without a
    teacher or a teacher without a weight, a temperature that is not positive, or a loss
    other than cross_entropy."""
    if not 0 <= config.distill_weight <= 1:
        raise ValueError(f"distill_weight={config.distill_weight!r} is invalid; use a share from 0 (off) to 1")
    if bool(config.teacher) != (config.distill_weight > 0):
        raise ValueError(f"teacher={config.teacher!r} with distill_weight={config.distill_weight!r} is invalid; "
                         f"name a teacher together with a weight above 0, or neither")
    if not config.distill_temperature > 0:
        raise ValueError(f"distill_temperature={config.distill_temperature!r} is invalid; use a temperature > 0")
    if config.teacher and config.loss != "cross_entropy":
        raise ValueError(f"teacher={config.teacher!r} is invalid with loss={config.loss!r}; distillation needs "
                         f"loss='cross_entropy'")


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015):
    T^2 x KL(softmax(teacher_logits / T) || softmax(logits / T)), averaged over the batch
    (nats per image). logits, teacher_logits: (N, C). The T^2 keeps the gradients' size
    about constant as T changes (their section 2), so the weight of the term means the
    same at any temperature. Zero when the two agree; the teacher gets no gradient."""
    log_q = F.log_softmax(logits / temperature, dim=1)
    log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return temperature ** 2 * F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def default_eval_batch_size(device: torch.device) -> int:
    """Images per evaluation batch. On a CPU, small batches keep the activations in
    cache (measured on 2 cores, Step 2 model, 10,000 test images: 0.67 s at 250,
    1.19 s at 500, 1.46 s at 1,000); a GPU wants large batches to fill the device.
    The batch size changes no accuracy, only the order in which losses are summed."""
    return 250 if device.type == "cpu" else 5000


@torch.inference_mode()
def evaluate(model: nn.Module, split: MNISTSplit, batch_size: int | None = None, loss: str = "cross_entropy") -> dict:
    """Mean loss and accuracy of ``model`` on ``split``, without training.

    loss: "cross_entropy" or "binary" (see :func:`loss_and_correct`).
    batch_size: None picks :func:`default_eval_batch_size` for the split's device.
    Returns {"loss": float (nats per image), "acc": float (percent, 0-100), "n": int}.
    The model is put in eval mode (BatchNorm uses running statistics, dropout is off)
    and restored to its previous mode afterwards.
    """
    was_training = model.training
    model.eval()
    batch_size = batch_size or default_eval_batch_size(split.X.device)
    loss_sum = torch.zeros((), device=split.X.device)
    correct = torch.zeros((), dtype=torch.long, device=split.X.device)
    for X, y in batches(split, batch_size, shuffle=False):
        batch_loss, batch_correct = loss_and_correct(model(X), y, loss, reduction="sum")
        loss_sum += batch_loss
        correct += batch_correct
    model.train(was_training)
    n = len(split)
    return {"loss": loss_sum.item() / n, "acc": 100.0 * correct.item() / n, "n": n}


def recompute_batchnorm(model: nn.Module, split: MNISTSplit, batch_size: int) -> None:
    """PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, section 3): reset
    the running mean and variance of every BatchNorm layer of ``model`` and recompute them,
    with the weights fixed, as the equal-weight average of the batch statistics over
    ``split``'s images in order, in batches of ``batch_size`` (the last may be smaller):
    ``torch.optim.swa_utils.update_bn``. split.X: (N, 1, 28, 28) normalised images, on the
    model's device. The model is left in the mode it was in; torch's CPU random state too,
    and CUDA's on a CUDA device (a dropout layer draws from them during the pass, as in
    training; on MPS its draws are not undone). A model without BatchNorm is left as it is."""
    device = split.X.device
    # fork_rng restores torch's CPU random state, and CUDA's when the data is there.
    accelerators = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=accelerators):
        update_bn(batches(split, batch_size, shuffle=False), model)  # restores the model's mode


def _check_fit_inputs(train: MNISTSplit, config: TrainConfig, val, best_weights, teacher_logits, augment,
                      extras: Extras):
    """Raise ValueError for what :func:`fit` refuses (see there) before anything trains;
    returns the augmentation to train with: ``augment``, else the config's rotation and shift."""
    if best_weights is not None and val is None:
        raise ValueError("best_weights needs a validation split (val=...): weights are chosen on "
                         "validation, never on the test set")
    switched_on = {k: getattr(config, k) for k in ("max_rotation", "max_shift") if getattr(config, k)}
    if augment is not None and switched_on:
        raise ValueError(f"augment given with the config's augmentation {switched_on}; use one of them")
    augment = augment if augment is not None else Augmentation(config.max_rotation, config.max_shift)
    if isinstance(augment, Augmentation):
        augment.check(min(train.X.shape[-2:]))
    extras.check(config.num_epochs, config.loss)
    check_distillation(config)
    if (teacher_logits is not None) != bool(config.teacher):
        raise ValueError(f"teacher_logits {'given' if teacher_logits is not None else 'missing'} with "
                         f"teacher={config.teacher!r}; pass them exactly when the config names a teacher")
    if teacher_logits is not None and (teacher_logits.ndim != 2 or len(teacher_logits) != len(train)):
        raise ValueError(f"teacher_logits of shape {tuple(teacher_logits.shape)} are invalid; expected "
                         f"({len(train)}, classes): one row per training image")
    return augment


def _mean_train_loss(batch_losses: torch.Tensor, n: int, epoch: int, config: TrainConfig) -> float:
    """The epoch's mean loss per image from its batches' mean losses (``n`` images; only the
    last batch may be smaller), read from the device once. Raises FloatingPointError naming
    the epoch and the first batch whose loss was NaN/inf."""
    batch_losses = batch_losses.cpu()  # the one host sync of the epoch
    bad = (~torch.isfinite(batch_losses)).nonzero()
    if len(bad):
        first = int(bad[0])
        raise FloatingPointError(
            f"training diverged: the loss became {batch_losses[first].item()} in epoch {epoch}, "
            f"first at batch {first + 1} of {len(batch_losses)} (lr={config.lr}); lower the learning rate")
    sizes = torch.full((len(batch_losses),), float(config.batch_size))
    sizes[-1] = n - config.batch_size * (len(batch_losses) - 1)
    return float((batch_losses * sizes).sum() / n)


def fit(model: nn.Module, train: MNISTSplit, test: MNISTSplit | None, config: TrainConfig,
        log=print, val: MNISTSplit | None = None, best_weights: str | os.PathLike | None = None,
        on_epoch=None, teacher_logits: torch.Tensor | None = None, augment=None,
        extras: Extras | None = None) -> list[dict]:
    """Train ``model`` on ``train`` and evaluate it after every epoch.

    The model is moved to the device of ``train.X`` (load the data with the device from
    :func:`resolve_device`). Training accuracy is measured on the (augmented) training
    batches as they are trained on, in train mode.
    test: evaluated after every epoch (None: not evaluated, e.g. when the test set is
    kept for one final measurement). val: an optional validation split, also evaluated
    after every epoch. best_weights: a file path (needs ``val``); the model's state_dict
    is saved there (atomically) whenever the validation accuracy improves, so the best
    epoch on validation (the first with the highest accuracy, as in
    :func:`mnist_course.engine.results.best_epoch`) can be reloaded after training. The test
    set never chooses weights.
    Returns the history: one dict per epoch with epoch, train_loss, train_acc,
    test_loss, test_acc, [val_loss, val_acc, saved], lr (at the epoch's start), seconds
    (train + evaluation), train_seconds, eval_seconds. Accuracies in percent; train_loss
    is the loss trained on (with ``extras.label_smoothing``), validation and test losses
    are not.
    Raises FloatingPointError naming the epoch and first batch whose loss was NaN/inf;
    ValueError, before training, if ``best_weights`` is given without ``val`` or a
    setting is invalid (the config's, its schedule's, ``augment``'s when it is an
    Augmentation (:meth:`augmentation.Augmentation.check`), ``extras``'
    (:meth:`Extras.check`)).
    ``log`` receives one line per epoch (pass ``None`` for silence). ``on_epoch``, if
    given, is called with each epoch's history row as soon as it is complete; an
    exception it raises stops training there (a search's pruner uses this).
    teacher_logits: (len(train), C) float, a teacher's logits on ``train``'s images as
    they are (:func:`mnist_course.experiments.distill.teacher_logits`), needed exactly when
    ``config.teacher`` is set: each batch is then trained on (1 - distill_weight) x
    cross-entropy + distill_weight x :func:`distillation_loss` against its images' rows
    (also when the batch is augmented: the digit's identity is kept); train_loss is that
    mixed loss. Raises ValueError when they are missing, unasked for or misshapen.
    augment: a function (X (N, 1, H, W) normalised batch, generator) -> X of the same
    shape, applied to every training batch of an augmented epoch, e.g. an
    :class:`augmentation.Augmentation` or a reference set-up's own pipeline
    (``reference.ShiftScaleRotateBrightnessContrast``); None: ``Augmentation(
    config.max_rotation, config.max_shift)``. Given, the config's rotation and shift must
    be 0. Its random draws come from ``generator`` (seeded by ``config.seed``, which also
    draws each epoch's order first), so runs are reproducible.
    extras: an :class:`Extras` (None: all off). Its ``ema_decay`` and ``precise_bn`` change
    what is evaluated (see its fields): with EMA, ``model`` itself is the averaged one
    after ``fit`` returns.
    """
    extras = extras if extras is not None else Extras()
    augment = _check_fit_inputs(train, config, val, best_weights, teacher_logits, augment, extras)
    device = train.X.device
    if teacher_logits is not None:
        teacher_logits = teacher_logits.to(device)
    model.to(device)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler, step_every = make_optimizer(model, config, steps_per_epoch)
    # The averaged copy is what evaluation sees; its first update copies the weights after
    # optimizer step 1, later ones move it towards the trained weights (see ema_decay).
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(extras.ema_decay), use_buffers=True)
                if extras.ema_decay > 0 else None)
    evaluated = averaged.module if averaged is not None else model
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    history, best = [], -1.0
    for epoch in range(1, config.num_epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train(epoch == 1 or not extras.train_mode_first_epoch_only)
        batch_losses = torch.empty(steps_per_epoch, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        augment_this_epoch = epoch <= config.num_epochs - extras.clean_last_epochs
        for i, idx in enumerate(batch_indices(len(train), config.batch_size, device, generator)):
            X, y = train.X[idx], train.y[idx]
            if augment_this_epoch:
                X = augment(X, generator)
            logits = model(X)
            loss, batch_correct = loss_and_correct(logits, y, config.loss, label_smoothing=extras.label_smoothing)
            if teacher_logits is not None:
                loss = ((1 - config.distill_weight) * loss + config.distill_weight
                        * distillation_loss(logits, teacher_logits[idx], config.distill_temperature))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(model)
            if step_every == "batch":
                scheduler.step()
            batch_losses[i] = loss.detach()
            correct += batch_correct
        if step_every == "epoch":
            scheduler.step()
        if extras.precise_bn:  # part of training: its seconds count in train_seconds
            recompute_batchnorm(evaluated, train, config.batch_size)
        train_loss = _mean_train_loss(batch_losses, len(train), epoch, config)
        train_seconds = time.perf_counter() - start
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": 100.0 * correct.item() / len(train),
               "test_loss": None, "test_acc": None}
        for name, split in (("val", val), ("test", test)):
            if split is not None:
                result = evaluate(evaluated, split, config.eval_batch_size, config.loss)
                row[f"{name}_loss"], row[f"{name}_acc"] = result["loss"], result["acc"]
        if best_weights is not None:
            row["saved"] = row["val_acc"] > best  # strictly: the first best epoch is kept
            if row["saved"]:
                best = row["val_acc"]
                save_weights(evaluated, best_weights)
        seconds = time.perf_counter() - start
        row.update({"lr": lr, "seconds": seconds, "train_seconds": train_seconds,
                    "eval_seconds": seconds - train_seconds})
        history.append(row)
        if log is not None:
            log(format_epoch(row, config.num_epochs))
        if on_epoch is not None:
            on_epoch(row)
    if averaged is not None:  # the caller's model becomes the averaged one it was measured as
        model.load_state_dict(averaged.module.state_dict())
    return history


def format_epoch(row: dict, num_epochs: int) -> str:
    """The progress line of one epoch of :func:`fit`'s history: train loss (nats per
    image) and accuracy, validation and test figures where measured, "(saved)" when the
    epoch's weights were kept, the learning rate and the epoch's seconds."""
    text = f"epoch {row['epoch']:>2}/{num_epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:6.2f}%"
    for name in ("val", "test"):
        if row.get(f"{name}_acc") is not None:
            text += f"  {name} loss {row[f'{name}_loss']:.4f} acc {row[f'{name}_acc']:6.2f}%"
    if row.get("saved"):
        text += "  (saved)"
    lr = row["lr"]
    lr_text = f"{lr:.4f}" if lr >= 1e-3 else f"{lr:.1e}"  # a decayed rate stays readable
    return f"{text}  lr {lr_text}  {row['seconds']:5.1f} s"


def config_dict(config: TrainConfig) -> dict:
    """The config as a plain JSON-able dict (for reports and cache keys): every field, a
    ``OneCycle`` or ``StepDecay`` schedule as {"name": "onecycle" or "step", its fields}
    (by its name alone at its defaults)."""
    schedule = canonical_schedule(config.schedule)
    if type(schedule) in SCHEDULE_NAMES:
        schedule = {"name": SCHEDULE_NAMES[type(schedule)], **asdict(schedule)}
    return asdict(config) | {"schedule": schedule}


def changed_fields(config: TrainConfig) -> dict:
    """The fields of ``config`` that differ from TrainConfig's defaults, without the seed,
    as :func:`config_dict` writes them: what a cached run's key names, so that adding a
    field (at a default that keeps today's behaviour) leaves every cached run valid."""
    defaults = config_dict(TrainConfig())
    return {k: v for k, v in config_dict(config).items() if k != "seed" and v != defaults[k]}


def piece_dict(piece) -> dict:
    """An :class:`augmentation.Augmentation` or :class:`Extras` as a plain dict for a record;
    another augmentation (a set-up's own dataclass) as {"type": its class name, its fields}."""
    return asdict(piece) | ({} if isinstance(piece, (Augmentation, Extras)) else {"type": type(piece).__name__})


def config_from_record(d: dict) -> tuple[TrainConfig, Augmentation | None, Extras | None]:
    """(config, augment, extras) of a record, to train it again. ``d``: a record's "config"
    dict, or a dict that holds one under "config" (a report, an ablation's "base") beside
    its "augment" and "extras" dicts (:func:`piece_dict`), if any. Reads today's form
    (:func:`config_dict`) and the flat one of records made before the pieces existed,
    whose schedule details (pct_start, three_phase, step_size, gamma), augmentation fields
    and extras sat in the config: at their defaults (or a schedule's details beside
    another schedule, where they did nothing) they are dropped; otherwise they become a
    ``OneCycle`` or ``StepDecay`` schedule, an ``Augmentation`` (holding the config's
    rotation and shift, which become 0) and an ``Extras``. A piece at its defaults is
    None; lists become tuples; fields gone from TrainConfig (the first reports' nesterov
    and device) are dropped. Raises ValueError for an augment of another type."""
    if "config" in d:
        d = {**d["config"], **{k: d[k] for k in ("augment", "extras") if d.get(k) is not None}}
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    augment, extras = dict(d.get("augment") or {}), dict(d.get("extras") or {})
    if "type" in augment:
        raise ValueError(f"augment of type {augment['type']!r} is not an Augmentation; rebuild it from its class")
    augment |= {k: d[k] for k in Augmentation.__dataclass_fields__ if k in d and k not in ("max_rotation", "max_shift")}
    extras |= {k: d[k] for k in Extras.__dataclass_fields__ if k in d}
    config = TrainConfig(**{k: d[k] for k in TrainConfig.__dataclass_fields__ if k in d})
    schedule = schedule_of(config.schedule)
    if isinstance(schedule, dict):
        schedule = next(kind for kind, name in SCHEDULE_NAMES.items() if name == schedule["name"])(
            **{k: v for k, v in schedule.items() if k != "name"})
    if type(schedule) in SCHEDULE_NAMES:  # the flat details of its own kind
        schedule = replace(schedule, **{k: d[k] for k in type(schedule).__dataclass_fields__ if k in d})
    augment = Augmentation(**{"max_rotation": config.max_rotation, "max_shift": config.max_shift, **augment})
    plain = augment == Augmentation(augment.max_rotation, augment.max_shift)
    config = replace(config, schedule=canonical_schedule(schedule), max_rotation=augment.max_rotation if plain
                     else 0.0, max_shift=augment.max_shift if plain else 0)
    return config, None if plain else augment, None if Extras(**extras) == Extras() else Extras(**extras)


def flat_config(config: TrainConfig, augment: Augmentation | None = None, extras: Extras | None = None) -> dict:
    """The inverse of :func:`config_from_record`: the pieces as one flat dict with every
    field of the TrainConfig that records made before the pieces existed hold (the
    schedule by its name, its details beside it; the augmentation's rotation and shift in
    the config's fields). For comparing a record of either form field by field."""
    schedule, augment = schedule_of(config.schedule), augment or Augmentation(config.max_rotation, config.max_shift)
    details = asdict(OneCycle()) | asdict(StepDecay()) | (asdict(schedule) if type(schedule) in SCHEDULE_NAMES else {})
    return (config_dict(config) | {"schedule": SCHEDULE_NAMES.get(type(schedule), schedule)} | details
            | asdict(augment) | asdict(extras if extras is not None else Extras()))
