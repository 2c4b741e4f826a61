"""Knowledge distillation: a small model trained towards a larger teacher's soft targets.

Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (NIPS 2014
Deep Learning Workshop, arXiv:1503.02531): a small network trained on a mix of the
labels and a large network's class probabilities at a raised softmax temperature learns
more than from the labels alone, because the soft targets say which wrong classes look
close (this 7 is almost a 1); on MNIST their small net went from 146 to 74 test errors.

Here a teacher is a named, fixed recipe (:data:`TEACHERS`): an architecture of Step 5's
design space, several times wider than Step 4, trained once per training split with
Step 4's training and a seed of its own. Its logits on that split's images as they are
(not augmented) become ``fit``'s ``teacher_logits``, so the student's epochs cost what
they cost without a teacher. The teacher sees only the training images it is given
(55,000 for an ablation, all 60,000 for a recording): nothing is chosen on the
test set, and the teacher is not chosen at all (one recipe, fixed before any student
trained). Its weights are cached per split under ``runs/teachers/`` (git-ignored), and
the teacher the recordings use (wide57k on all 60,000 training images) is committed
beside the course's other weights (``weights/teacher_wide57k.pt``, written by
``scripts/train_weights.py --teacher wide57k``), so a step that needs it loads it in
seconds instead of training it for ten minutes:

    logits = teacher_logits("wide57k", train)   # trains the teacher the first time (~10 min on 2 CPU cores)
    fit(student, train, test, TrainConfig(..., teacher="wide57k", distill_weight=0.5), teacher_logits=logits)

What a teacher costs is stated beside every result that uses one: its parameters and
its training time come on top of the student's 15 epochs.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..engine.augmentation import Augmentation
from ..engine.checkpoints import WEIGHTS_DIR, load_weights, save_weights
from ..engine.data import MNISTSplit, batches
from ..engine.models import Architecture, SearchNet, count_params
from ..engine.paths import atomic_write_text, run_key, runs_dir
from ..engine.training import Extras, TrainConfig, config_dict, device_name, evaluate, fit, piece_dict, set_seed


@dataclass(frozen=True)
class Teacher:
    """A teacher's recipe: its architecture (a point of Step 5's design space, without
    the budget) and its training (seed included; augment and extras as ``fit`` takes
    them, None for none). A recipe never changes under its name; a new teacher gets a
    new name."""

    arch: Architecture
    config: TrainConfig
    augment: Augmentation | None = None
    extras: Extras | None = None


# Step 4's layout (two convolutions, pool, 1x1 squeeze, three convolutions, GAP -> 1x1)
# at three times its widths: 56,688 parameters, about 40 s per epoch of 55,000 images on
# 2 CPU cores (3x Step 4's). Trained as Step 4 is (one-cycle to 0.1, batch 64, +-7 degrees,
# +-2 pixels, 15 epochs), with seed 0, which no student uses.
TEACHERS = {
    "wide57k": Teacher(Architecture(before_pool=(24, 48), transition=24, after_pool=(36, 48, 48),
                                    last_padding=0, head="gap"),
                       TrainConfig(num_epochs=15, batch_size=64, lr=0.1, momentum=0.9, schedule="onecycle",
                                   max_rotation=7.0, max_shift=2, seed=0)),
}


def get_teacher(name: str) -> Teacher:
    """The recipe of teacher ``name``. Raises ValueError naming it and the valid ones."""
    if name not in TEACHERS:
        raise ValueError(f"teacher={name!r} is unknown; valid: {', '.join(map(repr, TEACHERS))}")
    return TEACHERS[name]


def split_fingerprint(split: MNISTSplit) -> str:
    """The first 12 hex digits of the SHA-256 of a split's images and labels: which
    training images a teacher saw (the 55,000 of a validation fold or all 60,000)."""
    digest = hashlib.sha256()
    digest.update(split.X.detach().cpu().contiguous().numpy().tobytes())
    digest.update(split.y.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def committed_teacher(name: str) -> Path:
    """The file of teacher ``name``'s committed weights, ``weights/teacher_<name>.pt``,
    with its record ``.json`` beside it (which may not exist)."""
    return WEIGHTS_DIR / f"teacher_{name}.pt"


def train_teacher(name: str, train: MNISTSplit, val: MNISTSplit | None = None, cache_dir: str | Path | None = None,
                  log=print, num_epochs: int | None = None, committed: bool = True) -> tuple[torch.nn.Module, dict]:
    """Teacher ``name`` trained on ``train`` (on ``train``'s device), or loaded when
    ``cache_dir`` (default ``runs/teachers/``) holds it for the same recipe and images,
    or (``committed``, and no ``num_epochs``) when its committed weights
    (:func:`committed_teacher`) were trained by the same recipe on the same images, on
    any device, torch or code version (their record says which); committed=False trains
    it here instead (or takes it from ``cache_dir``). The record of committed weights
    adds "committed" (the file's name).
    val: evaluated after every epoch for the record (the teacher's accuracy is reported,
    nothing is chosen by it). num_epochs: overrides the recipe's (quick checks; part of
    the cached definition). Returns (model in eval mode, record), record = {name,
    params, train_images, seconds (of its training), final_val_acc or None, history}.
    The caller's random state (Python's and torch's) is as it was: a teacher seeds its
    own initialisation, and a student's dropout must not depend on whether its teacher
    was trained or loaded. Raises ValueError for an unknown name."""
    python_state = random.getstate()
    devices = [train.X.device] if train.X.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        result = _train_or_load(name, train, val, cache_dir, log, num_epochs, committed)
    random.setstate(python_state)
    return result


def _train_or_load(name, train, val, cache_dir, log, num_epochs, committed=True) -> tuple[torch.nn.Module, dict]:
    teacher = get_teacher(name)
    if num_epochs is not None:
        teacher = replace(teacher, config=replace(teacher.config, num_epochs=num_epochs))
    folder = Path(cache_dir) if cache_dir is not None else runs_dir() / "teachers"
    key = f"{name}-{len(train)}-{split_fingerprint(train)}"
    weights, record_path = folder / f"{key}.pt", folder / f"{key}.json"
    trained = {"arch": asdict(teacher.arch), "config": config_dict(teacher.config)} | {
        k: piece_dict(v) for k, v in (("augment", teacher.augment), ("extras", teacher.extras)) if v is not None}
    definition = json.loads(json.dumps(run_key(trained, train.X.device.type)))  # retrained for other code or torch
    set_seed(teacher.config.seed)
    model = SearchNet(teacher.arch)
    if weights.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("definition") == definition:
            load_weights(model, weights)
            if log is not None:
                log(f"teacher {name}: loaded from {weights.name} ({record['params']:,} parameters, trained "
                    f"in {record['seconds']:.0f} s)")
            return model.to(train.X.device).eval(), record
    if committed and num_epochs is None:
        loaded = _load_committed(name, model, definition, train, log)
        if loaded is not None:
            return loaded
    if log is not None:
        log(f"teacher {name}: training {count_params(model):,} parameters on {len(train):,} images")
    start = time.perf_counter()
    history = fit(model, train, None, teacher.config, log=log, val=val, augment=teacher.augment,
                  extras=teacher.extras)
    record = {"name": name, "params": count_params(model), "train_images": len(train),
              "seconds": round(time.perf_counter() - start, 1),
              "final_val_acc": history[-1].get("val_acc"), "definition": definition, "history": history}
    save_weights(model, weights)
    atomic_write_text(record_path, json.dumps(record) + "\n")
    return model.eval(), record


def _load_committed(name, model, definition, train, log) -> tuple[torch.nn.Module, dict] | None:
    """The committed teacher ``name`` loaded into ``model``, if its record names the same
    recipe (the definition but its device, torch and code) and the same training images."""
    weights = committed_teacher(name)
    meta_path = weights.with_suffix(".json")
    if not (weights.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    recipe = {k: v for k, v in definition.items() if k not in ("device", "torch", "code")}
    if meta.get("split") != split_fingerprint(train) or \
            {k: v for k, v in meta["definition"].items() if k not in ("device", "torch", "code")} != recipe:
        return None
    load_weights(model, weights)
    if log is not None:
        log(f"teacher {name}: loaded the committed {weights.name} ({meta['params']:,} parameters, trained in "
            f"{meta['seconds']:.0f} s on {meta['device']}, {meta['final_test_acc']:.2f}% test accuracy)")
    record = {k: meta[k] for k in ("name", "params", "train_images", "seconds", "final_val_acc", "definition",
                                   "history")} | {"committed": weights.name}
    return model.to(train.X.device).eval(), record


def commit_teacher(name: str, train: MNISTSplit, test: MNISTSplit, folder: str | Path | None = None,
                   log=print, cache_dir: str | Path | None = None) -> Path:
    """Train teacher ``name`` on ``train`` (or take it from ``cache_dir``, default
    ``runs/teachers/``, never from the committed weights) and write ``teacher_<name>.pt``
    and its record ``.json`` to ``folder`` (default: the committed weights, :func:`committed_teacher`): its
    architecture (so ``mnist-course predict --weights teacher_<name>`` loads it), the
    images' fingerprint, its training seconds and history, its final test accuracy
    (percent, for the record: it chooses nothing), device and versions. Returns the .pt."""
    model, record = train_teacher(name, train, cache_dir=cache_dir, log=log, committed=False)
    test_acc = evaluate(model, test)["acc"]  # test on the model's device, as the teacher's split
    weights = Path(folder) / f"teacher_{name}.pt" if folder is not None else committed_teacher(name)
    save_weights(model.to("cpu"), weights)
    meta = {"model": "searched", "architecture": asdict(get_teacher(name).arch), **record,
            "split": split_fingerprint(train), "final_test_acc": round(test_acc, 2), "test_images": len(test),
            "device": device_name(train.X.device), "torch": torch.__version__}
    atomic_write_text(weights.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    return weights


@torch.no_grad()
def logits_of(model: torch.nn.Module, split: MNISTSplit, batch_size: int = 1000) -> torch.Tensor:
    """``model``'s logits on every image of ``split`` as it is, in eval mode (the model's
    mode is restored): (N, C) float32 on the split's device, row i for image i."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(X) for X, _ in batches(split, batch_size, shuffle=False)])
    finally:
        model.train(was_training)


def teacher_logits(name: str, train: MNISTSplit, val: MNISTSplit | None = None, cache_dir: str | Path | None = None,
                   log=print, num_epochs: int | None = None) -> torch.Tensor:
    """Teacher ``name``'s logits on ``train``'s images, (len(train), 10), training the
    teacher first if ``cache_dir`` does not hold it (see :func:`train_teacher`): what
    ``fit`` takes as ``teacher_logits`` for a config with ``teacher=name``."""
    model, _ = train_teacher(name, train, val, cache_dir, log, num_epochs)
    return logits_of(model, train)


def logits_for(config: TrainConfig, train: MNISTSplit, val: MNISTSplit | None = None,
               cache_dir: str | Path | None = None, log=print) -> torch.Tensor | None:
    """The ``teacher_logits`` that ``fit(model, train, ..., config)`` needs: None when the
    config names no teacher, else :func:`teacher_logits` of its teacher."""
    return teacher_logits(config.teacher, train, val, cache_dir, log) if config.teacher else None
