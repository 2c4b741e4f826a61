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
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from .checkpoints import save_weights
from .data import (
    IMAGE_SIZE,
    INTERPOLATIONS,
    MNISTSplit,
    batch_indices,
    batches,
    check_affine,
    check_elastic,
    random_affine,
    random_center_crop_resize,
    random_elastic,
)
from .optim import make_optimizer

DEVICES = ("auto", "cpu", "cuda", "mps")
LOSSES = ("cross_entropy", "binary")


@dataclass
class TrainConfig:
    """Settings of one training run (units in the comments). The device is the data's:
    ``fit`` trains where ``train.X`` lives."""

    num_epochs: int = 15         # passes over the training images
    batch_size: int = 128        # images per optimizer step
    lr: float = 0.01             # learning rate; the peak rate for the onecycle schedule
    momentum: float = 0.9        # SGD momentum
    weight_decay: float = 0.0    # L2 penalty per optimizer step (torch's weight_decay: the gradient
                                 # gains weight_decay x weight), on every parameter; 0 = none
    optimizer: str = "sgd"       # "sgd" (with momentum) or "adam" (momentum unused)
    schedule: str | tuple = "constant"  # "constant", "onecycle" (warm-up then anneal, per batch),
                                 # "step" (multiply by gamma every step_size epochs), or one learning
                                 # rate per epoch (a tuple of num_epochs rates; lr = the first)
    pct_start: float = 0.3       # onecycle: fraction of the optimizer steps spent warming up
    three_phase: bool = False    # onecycle: Smith's original 1cycle, with a symmetric cool-down to
                                 # lr / 25 by 2 * pct_start, then annihilation to ~0 (torch's OneCycleLR)
    step_size: int = 3           # epochs between decays of the "step" schedule
    gamma: float = 0.1           # decay factor of the "step" schedule
    loss: str = "cross_entropy"  # "cross_entropy" (logits (N, C)) or "binary" (one logit (N,), labels 0/1)
    label_smoothing: float = 0.0  # cross_entropy, training only: the target puts 1 - label_smoothing
                                 # + label_smoothing / C on the true class and label_smoothing / C on
                                 # each other (torch's F.cross_entropy); evaluation uses plain targets
    max_rotation: float = 0.0    # degrees of random rotation per training image; 0 = none
    rotation_interpolation: str = "bilinear"  # of that rotation: "bilinear" or "nearest" (the ERA S5
                                 # template's RandomRotation uses torchvision's default, nearest)
    max_shift: int = 0           # pixels: each training image shifted by a whole number of pixels
                                 # within +-max_shift along x and along y (0 to 13; 0 = none)
    max_scale: float = 0.0       # each training image scaled by a factor within 1 +- max_scale, in
                                 # the same resampling as the rotation and shift (torchvision's
                                 # RandomAffine(max_rotation, translate, scale)); 0 = none
    elastic_alpha: float = 0.0   # pixels: after the rotation, shift and scale, each training image
                                 # resampled along its own random smooth displacement field, uniform
                                 # noise in [-1, 1) per pixel blurred by elastic_sigma and times this
                                 # (Simard et al., ICDAR 2003: 34; torchvision's ElasticTransform with
                                 # alpha = 2 x this); 0 = none
    elastic_sigma: float = 4.0   # pixels: standard deviation of that blur, the field's smoothness
                                 # (Simard et al.: 4; 0 < sigma < 6.875 on 28 x 28 images)
    crop_resize_p: float = 0.0   # probability per training image of cropping its central crop_size
                                 # x crop_size pixels and resizing them back to 28 x 28 (bilinear),
                                 # before the rotation; 0 = never (the ERA S5 template: 0.1)
    crop_size: int = 22          # pixels per side of that centre crop (1 to 27)
    clean_last_epochs: int = 0   # the last this-many epochs train on the images as they are: no
                                 # crop, rotation, shift, scale or elastic distortion (0 = augment
                                 # every epoch); the model ends on the distribution it is tested on,
                                 # at a small learning rate (as YOLOX turns its augmentation off at
                                 # the end)
    train_mode_first_epoch_only: bool = False  # reproduces a bug of reference 1's source: training
                                 # mode set once before epoch 1, evaluation leaving the model in eval
                                 # mode, so from epoch 2 on dropout is off (and BatchNorm frozen)
    teacher: str = ""            # knowledge distillation: the name of a teacher in distill.TEACHERS whose
                                 # logits on the (unaugmented) training images fit receives as
                                 # teacher_logits; "" = none
    distill_weight: float = 0.0  # share of the loss that is the distillation term (0 = plain cross-entropy;
                                 # needs a teacher): (1 - w) x cross-entropy + w x distillation_loss
    distill_temperature: float = 4.0  # softmax temperature T of that term (Hinton et al. 2015: soft
                                 # targets at T > 1 show which wrong classes the teacher finds close)
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
    seed: int = 1                # seeds shuffling and augmentation (model init: steps.build_model)
    eval_batch_size: int | None = None  # images per evaluation batch; None: per device (below)


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


def check_augmentation(config: TrainConfig, image_size: int = IMAGE_SIZE) -> None:
    """Raise ValueError naming the TrainConfig field, its value and the valid ones when an
    augmentation setting is invalid, also one that is unused (a rotation interpolation
    without rotation, a crop size at crop_resize_p = 0): a typo is caught before training."""
    if config.rotation_interpolation not in INTERPOLATIONS:
        raise ValueError(f"rotation_interpolation={config.rotation_interpolation!r} is invalid; "
                         f"valid: {', '.join(INTERPOLATIONS)}")
    if not 0 <= config.crop_resize_p <= 1:
        raise ValueError(f"crop_resize_p={config.crop_resize_p!r} is invalid; use a probability from 0 to 1")
    size = config.crop_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size < image_size:
        raise ValueError(f"crop_size={size!r} is invalid; use a whole number of pixels from 1 to {image_size - 1}")
    check_affine(config.max_shift, config.max_scale, image_size)
    check_elastic(config.elastic_alpha, config.elastic_sigma, image_size)
    clean = config.clean_last_epochs
    if isinstance(clean, bool) or not isinstance(clean, int) or not 0 <= clean <= config.num_epochs:
        raise ValueError(f"clean_last_epochs={clean!r} is invalid; use a whole number of epochs from 0 "
                         f"to num_epochs={config.num_epochs}")
    if not 0 <= config.ema_decay < 1:
        raise ValueError(f"ema_decay={config.ema_decay!r} is invalid; use 0 (no weight averaging) or a "
                         f"decay from 0 to below 1, e.g. 0.999")


AUGMENTATION_FIELDS = ("crop_resize_p", "max_rotation", "max_shift", "max_scale", "elastic_alpha")


def augment_settings(config: TrainConfig) -> dict:
    """The augmentation fields of ``config`` that are switched on ({} when it trains on the
    images as they are)."""
    return {k: getattr(config, k) for k in AUGMENTATION_FIELDS if getattr(config, k)}


def augment_batch(X: torch.Tensor, config: TrainConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """A training batch as :func:`fit` augments it in an augmented epoch: the centre crop
    (``crop_resize_p``), then the rotation, shift and scale in one resampling, then the
    elastic distortion. X: (N, 1, 28, 28) normalised images; returns a new tensor of the
    same shape (X itself when nothing is on). The draws from ``generator``, in this order,
    are those of :func:`data.random_center_crop_resize`, :func:`data.random_affine` and
    :func:`data.random_elastic`; a part that is off draws nothing, so a run keeps the
    random stream it had before that part existed."""
    if config.crop_resize_p > 0:
        X = random_center_crop_resize(X, config.crop_resize_p, config.crop_size, generator)
    X = random_affine(X, config.max_rotation, config.max_shift, config.max_scale, generator,
                      config.rotation_interpolation)
    if config.elastic_alpha > 0:
        X = random_elastic(X, config.elastic_alpha, config.elastic_sigma, generator)
    return X


def fit(model: nn.Module, train: MNISTSplit, test: MNISTSplit | None, config: TrainConfig,
        log=print, val: MNISTSplit | None = None, best_weights: str | os.PathLike | None = None,
        on_epoch=None, teacher_logits: torch.Tensor | None = None, augment=None) -> list[dict]:
    """Train ``model`` on ``train`` and evaluate it after every epoch.

    The model is moved to the device of ``train.X`` (load the data with the device from
    :func:`resolve_device`). Training accuracy is measured on the (augmented) training
    batches as they are trained on, in train mode.
    test: evaluated after every epoch (None: not evaluated, e.g. when the test set is
    kept for one final measurement). val: an optional validation split, also evaluated
    after every epoch. best_weights: a file path (needs ``val``); the model's state_dict
    is saved there (atomically) whenever the validation accuracy improves, so the best
    epoch on validation (the first with the highest accuracy, as in
    :func:`mnist_course.results.best_epoch`) can be reloaded after training. The test
    set never chooses weights.
    Returns the history: one dict per epoch with epoch, train_loss, train_acc,
    test_loss, test_acc, [val_loss, val_acc, saved], lr (at the epoch's start), seconds
    (train + evaluation), train_seconds, eval_seconds. Accuracies in percent; train_loss
    is the loss trained on (with ``label_smoothing``), validation and test losses are not.
    Raises FloatingPointError naming the epoch and first batch whose loss was NaN/inf;
    ValueError if ``best_weights`` is given without ``val`` or an augmentation setting is
    invalid (see :func:`check_augmentation`).
    ``log`` receives one line per epoch (pass ``None`` for silence). ``on_epoch``, if
    given, is called with each epoch's history row as soon as it is complete; an
    exception it raises stops training there (a search's pruner uses this).
    teacher_logits: (len(train), C) float, a teacher's logits on ``train``'s images as
    they are (:func:`mnist_course.distill.teacher_logits`), needed exactly when
    ``config.teacher`` is set: each batch is then trained on (1 - distill_weight) x
    cross-entropy + distill_weight x :func:`distillation_loss` against its images' rows
    (also when the batch is augmented: the digit's identity is kept); train_loss is that
    mixed loss. Raises ValueError when they are missing, unasked for or misshapen.
    ``config.ema_decay`` and ``config.precise_bn`` change what is evaluated (see their
    fields): with EMA, ``model`` itself is the averaged one after ``fit`` returns.
    Raises ValueError for precise_bn with train_mode_first_epoch_only.
    augment: a function (X (N, 1, H, W) normalised batch, generator) -> X of the same
    shape, applied to every training batch instead of the config's augmentation (whose
    fields must then be at their defaults): how a set-up with its own pipeline (a
    reference set-up's) brings it without adding fields to TrainConfig. Its random draws
    come from ``generator`` (seeded by ``config.seed``), so runs are reproducible.
    """
    if best_weights is not None and val is None:
        raise ValueError("best_weights needs a validation split (val=...): weights are chosen on "
                         "validation, never on the test set")
    check_augmentation(config, min(train.X.shape[-2:]))
    if augment is not None and (switched_on := augment_settings(config)):
        raise ValueError(f"augment given with the config's augmentation {switched_on}; use one of them")
    check_label_smoothing(config.label_smoothing, config.loss)
    check_distillation(config)
    if config.precise_bn and config.train_mode_first_epoch_only:
        raise ValueError("precise_bn=True is invalid with train_mode_first_epoch_only=True: that mode trains "
                         "from epoch 2 on with the running statistics, which PreciseBN would then change; "
                         "set one of them to False")
    if (teacher_logits is not None) != bool(config.teacher):
        raise ValueError(f"teacher_logits {'given' if teacher_logits is not None else 'missing'} with "
                         f"teacher={config.teacher!r}; pass them exactly when the config names a teacher")
    if teacher_logits is not None and (teacher_logits.ndim != 2 or len(teacher_logits) != len(train)):
        raise ValueError(f"teacher_logits of shape {tuple(teacher_logits.shape)} are invalid; expected "
                         f"({len(train)}, classes): one row per training image")
    device = train.X.device
    if teacher_logits is not None:
        teacher_logits = teacher_logits.to(device)
    model.to(device)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler, step_every = make_optimizer(model, config, steps_per_epoch)
    # The averaged copy is what evaluation sees; its first update copies the weights after
    # optimizer step 1, later ones move it towards the trained weights (see ema_decay).
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
                if config.ema_decay > 0 else None)
    evaluated = averaged.module if averaged is not None else model
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    history, best = [], -1.0
    for epoch in range(1, config.num_epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        model.train(epoch == 1 or not config.train_mode_first_epoch_only)
        batch_losses = torch.empty(steps_per_epoch, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        augment_this_epoch = epoch <= config.num_epochs - config.clean_last_epochs
        for i, idx in enumerate(batch_indices(len(train), config.batch_size, device, generator)):
            X, y = train.X[idx], train.y[idx]
            if augment_this_epoch:
                X = augment(X, generator) if augment is not None else augment_batch(X, config, generator)
            logits = model(X)
            loss, batch_correct = loss_and_correct(logits, y, config.loss, label_smoothing=config.label_smoothing)
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
        if config.precise_bn:  # part of training: its seconds count in train_seconds
            recompute_batchnorm(evaluated, train, config.batch_size)
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
    """The config as a plain dict (for reports)."""
    return asdict(config)


def changed_fields(config: TrainConfig) -> dict:
    """The fields of ``config`` that differ from TrainConfig's defaults, without the seed:
    what a cached run's key names, so that adding a field (at a default that keeps
    today's behaviour) leaves every cached run valid."""
    defaults = TrainConfig()
    return {k: v for k, v in asdict(config).items() if k != "seed" and v != getattr(defaults, k)}
