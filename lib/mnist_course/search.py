"""Step 5's design space and its search with Optuna, under a parameter budget.

The design space generalises the skeleton of Steps 2-4: a block of 3x3 convolutions
(each conv -> ReLU -> BatchNorm) at full resolution, a 2x2 MaxPool, an optional 1x1
transition, a second block whose convolutions end with dropout, and a head: a 3x3
convolution to the 10 class maps then GAP (as in Steps 3-4), or GAP then a 1x1
convolution to the 10 classes (Step 4's design study measured the two as equal,
reports/ablations/04_capacity-design.json, and the second costs C x 10 parameters
instead of 9 x C x 10). The 3x3 convolutions after the pool, or all of them but the
first, may be depthwise-separable (``models.separable_conv_bn``: the same window for
about a ninth of the weights, so wider). An :class:`Architecture` fixes every width; its parameter
count is a closed formula (:func:`architecture_params`), so a sample over the budget
(or under 60% of it) is rejected before any weight exists. Step 4 is one point of the space
(``STEP4``, 7,824 parameters; tests/test_search.py checks both against the model).

The search (:func:`run_search`) is an Optuna study per budget: each trial samples an
architecture and the training knobs, is pruned at once when over the budget (or under 60% of it), and is
otherwise trained on the course's validation split (55,000 / 5,000; the test set is
never loaded), reporting the validation accuracy after every epoch so that Optuna's
pruner (successive halving) can stop weak trials early. The study lives in Optuna
storage: by default a SQLite file under ``runs/search/`` (git-ignored), so a search
that is interrupted continues when run again; any storage URL Optuna accepts
(PostgreSQL, MySQL, or ``journal:<file>`` for Optuna's journal file storage) lets
several processes, on one machine or many, work on one study::

    python -m mnist_course.search --budget 5000 --trials 40            # one worker
    python -m mnist_course.search --budget 5000 --trials 20 --storage postgresql://...  # on each machine

Sources: Optuna (Akiba et al., KDD 2019, https://optuna.org); successive halving as
in Optuna's ``SuccessiveHalvingPruner`` (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances
from torch import nn

from .ablation import RECIPES
from .checkpoints import load_weights, save_weights
from .data import FOLDS, course_validation_split, load_mnist
from .distill import TEACHERS, teacher_logits
from .models import HEADS, SEPARABLE, Architecture, SearchNet, architecture_params, separable_at
from .paths import REPO_ROOT, cached_run, cached_run_path, quick_dir, runs_dir, settings_key
from .reporting import save_figure
from .results import LAST_EPOCHS, aggregate, format_mean_std, summarize_run
from .settings import list_hint
from .training import TrainConfig, changed_fields, fit, resolve_device, set_seed

WIDTHS = (4, 6, 8, 10, 12, 14, 16, 20, 24)  # channels a searched 3x3 convolution may have
# ... and a depthwise-separable one: it costs ~C_in x C_out weights instead of 9 x C_in x C_out,
# so at the same budget it can be about three times as wide. Its widths are their own
# parameters (``<block>_<i>_sep``): a study's choices for a parameter cannot change once stored.
SEPARABLE_WIDTHS = (8, 12, 16, 20, 24, 32, 40, 48)
TRANSITIONS = (0, 6, 8, 10, 12)             # 1x1 transition widths; 0 = no transition
# Step 4 as a point of the space (models.Step4Capacity with its recipe's keywords: no
# dropout since study 04_capacity-dropout): a check of the formula and a reference for
# the searched models.
STEP4 = Architecture(before_pool=(8, 16), transition=8, after_pool=(12, 16, 16), last_padding=1,
                     dropout=RECIPES["04_capacity"].model_kwargs.get("dropout", 0.05))


# Step 4's training knobs, from its recipe: the one-cycle peak rate, the batch its
# design study chose on validation, and the rotation. Not the shift of ±2 pixels that
# Step 4 adopted after the recorded search (study 04_capacity-augment): the stored
# studies were searched without it, and study 05_search-augment measures it on the
# winner under 5,000 parameters before the search takes it.
STEP4_TRAINING = {k: getattr(RECIPES["04_capacity"].config, k) for k in ("lr", "batch_size", "max_rotation")}
# How a search with a teacher (``run_search(teacher=...)``) trains every run: Step 6's
# distillation (half the loss from the teacher's logits at temperature 4), which study
# 05_search-distill chose on validation for the winner under 5,000 parameters.
DISTILLATION = {k: getattr(RECIPES["06_teacher"].config, k) for k in ("distill_weight", "distill_temperature")}


def _nearest(value: float, choices) -> int:
    return min(choices, key=lambda c: (abs(c - value), c))


def step4_narrowed(budget: int) -> Architecture | None:
    """Step 4 narrowed by hand to fit ``budget``: what a learner would try first, and the
    first trial of every new study, so the search starts from the course's own design.

    Step 4 with the GAP -> 1x1 head (as accurate as its class-map conv with 1,280 fewer
    parameters: reports/ablations/04_capacity-design.json), every width multiplied by
    the largest factor f = 1.00, 0.99, ... whose model has fewer than ``budget``
    parameters (each width rounded to the nearest of ``WIDTHS``, the transition to the
    nearest of ``TRANSITIONS`` but none). None when no factor fits."""
    for percent in range(100, 0, -1):
        f = percent / 100
        arch = replace(STEP4, before_pool=tuple(_nearest(w * f, WIDTHS) for w in STEP4.before_pool),
                       transition=_nearest(STEP4.transition * f, [t for t in TRANSITIONS if t]),
                       after_pool=tuple(_nearest(w * f, WIDTHS) for w in STEP4.after_pool),
                       head="gap", last_padding=0)
        if architecture_params(arch) < budget:
            return arch
    return None


def step4_separable(budget: int) -> Architecture | None:
    """Step 4 rebuilt with depthwise-separable convolutions after the pool, widened to fit
    ``budget``: what a learner would try first with the new building block, and the second
    warm start of every study (queued also in a study begun before the space had it).

    :func:`step4_narrowed`'s starting point (Step 4 with the GAP -> 1x1 head), its three
    convolutions after the pool made separable and their widths multiplied by the largest
    factor f = 3.00, 2.99, ... 1.00 (each rounded to the nearest of ``SEPARABLE_WIDTHS``)
    whose model has fewer than ``budget`` parameters; the layers before the pool and the
    transition stay Step 4's. None when even f = 1 does not fit."""
    for percent in range(300, 99, -1):
        arch = replace(STEP4, after_pool=tuple(_nearest(w * percent / 100, SEPARABLE_WIDTHS) for w in STEP4.after_pool),
                       head="gap", last_padding=0, separable="after_pool")
        if architecture_params(arch) < budget:
            return arch
    return None


def step4_all_separable(budget: int) -> Architecture | None:
    """Step 4 rebuilt with every convolution but the first depthwise-separable and no
    transition, widened to fit ``budget``: the third warm start of a study (queued in a
    study begun before it, like :func:`step4_separable`).

    Why no transition: Step 4's 1x1 squeeze (16 -> 8 channels) exists to make the dense
    3x3 convolution after it cheaper, since a dense 3x3 costs 9 weights per pair of
    channels; a separable one mixes channels in its own 1x1 (one weight per pair), so the
    squeeze saves little and costs the convolutions after it their input width.
    :func:`step4_narrowed`'s starting point (Step 4 with the GAP -> 1x1 head) without its
    transition, every width multiplied by the largest factor f = 3.00, 2.99, ... 1.00
    (the first convolution's rounded to the nearest of ``WIDTHS``, the separable ones' to
    the nearest of ``SEPARABLE_WIDTHS``) whose model has fewer than ``budget``
    parameters. None when even f = 1 does not fit."""
    for percent in range(300, 99, -1):
        f = percent / 100
        first, *rest = STEP4.before_pool
        arch = replace(STEP4, before_pool=(_nearest(first * f, WIDTHS),) + tuple(_nearest(w * f, SEPARABLE_WIDTHS)
                                                                              for w in rest),
                       transition=0, after_pool=tuple(_nearest(w * f, SEPARABLE_WIDTHS) for w in STEP4.after_pool),
                       head="gap", last_padding=0, separable="all")
        if architecture_params(arch) < budget:
            return arch
    return None


# The hand-made warm starts, in the order a study queues them, with the mark
# format_candidates gives their rows and the line that explains it.
WARM_STARTS = {
    "narrowed": (step4_narrowed, "*", "Step 4 narrowed to the budget by hand (the search's first trial)"),
    "separable": (step4_separable, "+", "Step 4 with separable convolutions after the pool, widened to the "
                  "budget by hand (a warm start)"),
    "all_separable": (step4_all_separable, "#", "Step 4 with every convolution but the first separable and no "
                      "transition, widened to the budget by hand (a warm start)"),
}


def _tried(study: optuna.Study, arch: Architecture) -> bool:
    """Whether a trial of ``study`` trained ``arch`` with Step 4's training, or has it queued."""
    wanted = trial_params(arch, STEP4_TRAINING)
    for trial in study.get_trials(deepcopy=False):
        params = trial.params or trial.system_attrs.get("fixed_params", {})
        if all(params.get(k) == v for k, v in wanted.items()) and trial.state != optuna.trial.TrialState.FAIL:
            return True
    return False


def warm_start_of(trial: optuna.trial.FrozenTrial, budget: int) -> str | None:
    """Which warm start of :func:`run_search` a trial trained, with Step 4's training:
    a key of ``WARM_STARTS`` ("narrowed", "separable", "all_separable") or None.
    A warm start counts once it trained: completed, or stopped by the pruner after an
    epoch (the confirmation judges it over the full epochs all the same)."""
    trained = trial.state == optuna.trial.TrialState.COMPLETE or (
        trial.state == optuna.trial.TrialState.PRUNED and bool(trial.intermediate_values))
    if not (trained and "architecture" in trial.user_attrs
            and all(trial.params.get(k) == v for k, v in STEP4_TRAINING.items())):
        return None
    arch = architecture_of(trial)
    return next((kind for kind, (start, _, _) in WARM_STARTS.items() if arch == start(budget)), None)


def proxy_value(trial: optuna.trial.FrozenTrial) -> float:
    """A trained trial's proxy result: its final validation accuracy, or for a run the
    pruner stopped, the validation accuracy of its last epoch (percent)."""
    return trial.value if trial.value is not None else trial.intermediate_values[max(trial.intermediate_values)]


def trial_params(arch: Architecture, training: dict) -> dict:
    """The values :func:`suggest_architecture` and :func:`suggest_training` would sample
    for ``arch`` and ``training`` ({lr, batch_size, max_rotation}): what Optuna's
    ``enqueue_trial`` takes to run that point as a trial."""
    params = {"convs_before_pool": len(arch.before_pool), "convs_after_pool": len(arch.after_pool),
              "head": arch.head, "transition": arch.transition, "dropout": arch.dropout,
              "separable": arch.separable, **training}
    for index, width in enumerate(arch.before_pool + arch.after_pool):
        block, i = ("before", index) if index < len(arch.before_pool) else ("after", index - len(arch.before_pool))
        params[_width_name(block, i, arch.is_separable(index))] = width
    if arch.head == "conv":
        params["last_padding"] = arch.last_padding
    return params


def format_space(architecture_only: bool = False) -> str:
    """The design space and the training knobs as text, with Step 4 as one of its points;
    with ``architecture_only`` the training line names Step 4's recipe, which every trial
    then uses (and no dropout)."""
    widths = ", ".join(map(str, WIDTHS))
    choices = [f"{d:g}" for d in DROPOUTS]
    dropout = "no dropout" if architecture_only else f"dropout {', '.join(choices[:-1])} or {choices[-1]}"
    training = (f"fixed: Step 4's recipe, one-cycle peak lr {STEP4_TRAINING['lr']:g}, batch "
                f"{STEP4_TRAINING['batch_size']}, rotation {STEP4_TRAINING['max_rotation']:g} degrees"
                if architecture_only else
                "one-cycle peak lr 0.02-0.3 (log scale), batch 64 or 128, rotation 0, 7 or 10 degrees")
    return "\n".join([
        f"3x3 convolutions before the MaxPool   1-3, each {widths} channels (pool after RF 3, 5 or 7)",
        f"1x1 transition after the MaxPool      {', '.join(str(t) if t else 'none' for t in TRANSITIONS)} channels",
        f"3x3 convolutions after the MaxPool    1-4, each {widths} channels, {dropout}",
        "head                                 3x3 conv to 10 class maps (padding 0 or 1) then GAP, "
        "or GAP then 1x1 conv to 10",
        "depthwise-separable 3x3 convolutions  none, those after the MaxPool, or all but the first; each "
        f"{', '.join(map(str, SEPARABLE_WIDTHS))} channels",
        f"training                             {training}",
        f"Step 4 in this space                 {STEP4} = {architecture_params(STEP4):,} parameters",
        "first trial of every study           Step 4 with the GAP -> 1x1 head, its widths narrowed to fit the "
        "budget, and its training (step4_narrowed)",
        "second warm start                    the same Step 4 with separable convolutions after the MaxPool, "
        "widened to fit the budget, and its training (step4_separable)",
        "third warm start                     the same Step 4 with every convolution but the first separable "
        "and no transition, widened to fit the budget, and its training (step4_all_separable)",
    ])


DROPOUTS = (0.0, 0.05, 0.1)  # dropout after each convolution after the pool


def _width_name(block: str, i: int, separable: bool) -> str:
    """The trial parameter holding the width of convolution ``i`` of ``block`` ("before" or
    "after" the pool): ``after_0``, or ``after_0_sep`` for a depthwise-separable one."""
    return f"{block}_{i}_sep" if separable else f"{block}_{i}"


def suggest_architecture(trial: optuna.Trial, dropouts: tuple = DROPOUTS) -> Architecture:
    """Sample an architecture with the trial's sampler (conditional: each convolution's
    width is sampled only if the convolution exists, from ``WIDTHS``, or from
    ``SEPARABLE_WIDTHS`` if it is depthwise-separable; the class-map padding only with
    the "conv" head); the dropout from ``dropouts``."""
    before = trial.suggest_int("convs_before_pool", 1, 3)
    after = trial.suggest_int("convs_after_pool", 1, 4)
    head = trial.suggest_categorical("head", HEADS)
    separable = trial.suggest_categorical("separable", SEPARABLE)

    def width(block: str, i: int, is_separable: bool) -> int:
        return trial.suggest_categorical(_width_name(block, i, is_separable),
                                         SEPARABLE_WIDTHS if is_separable else WIDTHS)

    return Architecture(
        before_pool=tuple(width("before", i, separable_at(separable, i, before)) for i in range(before)),
        transition=trial.suggest_categorical("transition", TRANSITIONS),
        after_pool=tuple(width("after", i, separable_at(separable, before + i, before)) for i in range(after)),
        last_padding=trial.suggest_categorical("last_padding", (0, 1)) if head == "conv" else 0,
        dropout=trial.suggest_categorical("dropout", tuple(dropouts)),
        head=head,
        separable=separable,
    )


def suggest_training(trial: optuna.Trial, num_epochs: int, fixed: dict | None = None) -> TrainConfig:
    """Sample the training knobs: peak learning rate of the one-cycle schedule (log
    scale, 0.02-0.3), batch size (64 or 128 images) and rotation (0, 7 or 10 degrees).
    fixed: {lr, batch_size, max_rotation} to use instead of sampling (an architecture-only
    search); they are stored as the trial's parameters all the same (one-choice
    categoricals), so :func:`training_of` reads every trial alike."""
    if fixed is not None:
        return TrainConfig(num_epochs=num_epochs, lr=trial.suggest_categorical("lr", (fixed["lr"],)),
                           batch_size=trial.suggest_categorical("batch_size", (fixed["batch_size"],)),
                           max_rotation=trial.suggest_categorical("max_rotation", (fixed["max_rotation"],)),
                           momentum=0.9, schedule="onecycle")
    return TrainConfig(num_epochs=num_epochs, lr=trial.suggest_float("lr", 0.02, 0.3, log=True),
                       batch_size=trial.suggest_categorical("batch_size", (64, 128)),
                       max_rotation=trial.suggest_categorical("max_rotation", (0.0, 7.0, 10.0)),
                       momentum=0.9, schedule="onecycle")


def objective(trial: optuna.Trial, budget: int, train, val, num_epochs: int, seed: int = 1,
              min_params: int = 0, fixed_training: dict | None = None, teacher: str = "",
              logits=None) -> float:
    """Final-epoch validation accuracy (percent) of the trial's architecture and
    training. fixed_training: {lr, batch_size, max_rotation} for an architecture-only
    search (then without dropout too, like Step 4's recipe); None samples them.
    teacher: the name of the teacher (distill.py) the trial learns from with
    ``DISTILLATION``, stored with the trial (:func:`training_of` reads it), and logits
    its logits on ``train`` ((len(train), 10)); "" trains on the labels alone. Raises
    optuna.TrialPruned, without training, when the architecture has ``budget``
    parameters or more, fewer than ``min_params``, or is not buildable; and after an
    epoch whose validation accuracy the pruner judges too low."""
    try:
        arch = suggest_architecture(trial, (0.0,) if fixed_training is not None else DROPOUTS)
    except ValueError as e:  # e.g. too many convolutions for the map size
        raise optuna.TrialPruned(f"not buildable: {e}") from e
    params = architecture_params(arch)
    trial.set_user_attr("params", params)
    trial.set_user_attr("architecture", asdict(arch))
    if teacher:
        trial.set_user_attr("distillation", {"teacher": teacher, **DISTILLATION})
    config = with_distillation(suggest_training(trial, num_epochs, fixed_training), trial)
    if params >= budget:
        raise optuna.TrialPruned(f"{params:,} parameters >= budget {budget:,}: not trained")
    if params < min_params:
        raise optuna.TrialPruned(f"{params:,} parameters < {min_params:,} (a smaller budget's model): not trained")
    set_seed(seed)
    model = SearchNet(arch)

    def report(row: dict) -> None:
        trial.report(row["val_acc"], row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {row['epoch']} at {row['val_acc']:.2f}% validation")

    history = fit(model, train, None, config, log=None, val=val, on_epoch=report, teacher_logits=logits)
    return history[-1]["val_acc"]


def with_distillation(config: TrainConfig, trial: optuna.trial.BaseTrial) -> TrainConfig:
    """``config`` with the teacher a trial learned from (its "distillation" attribute,
    set by :func:`objective`), or unchanged for a trial without one."""
    return replace(config, **trial.user_attrs.get("distillation", {}))


def architecture_of(trial: optuna.trial.FrozenTrial) -> Architecture:
    """The architecture a finished trial trained (stored in its user attributes)."""
    return Architecture.from_dict(trial.user_attrs["architecture"])


def training_of(trial: optuna.trial.FrozenTrial, num_epochs: int) -> TrainConfig:
    """The trial's training knobs for a run of ``num_epochs`` epochs (one-cycle, SGD 0.9),
    with its teacher if it learned from one."""
    return with_distillation(TrainConfig(num_epochs=num_epochs, lr=trial.params["lr"],
                                         batch_size=trial.params["batch_size"],
                                         max_rotation=trial.params["max_rotation"], momentum=0.9,
                                         schedule="onecycle"), trial)


def teacher_lookup(train, val=None, teacher_epochs: int | None = None, log=print):
    """A function from a teacher's name to its logits on ``train``, (len(train), 10), what
    ``fit`` takes as ``teacher_logits`` (None for "": no teacher). Each teacher is trained
    once on ``train``'s images and cached (``distill.train_teacher``; ``val`` is
    evaluated for its record only), and its logits are computed once per lookup.
    teacher_epochs: overrides the teacher's epochs (quick checks)."""
    @functools.cache
    def lookup(name: str):
        return teacher_logits(name, train, val, log=log, num_epochs=teacher_epochs) if name else None
    return lookup


def _pruned_after_last_epoch(trial: optuna.trial.FrozenTrial, num_epochs: int) -> bool:
    """Stopped by the pruner after reporting its ``num_epochs``-th epoch: trained in full."""
    return trial.state == optuna.trial.TrialState.PRUNED and max(trial.intermediate_values, default=0) >= num_epochs


def top_trials(study: optuna.Study, k: int, num_epochs: int | None = None) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` trials with the highest final validation accuracy (:func:`proxy_value`),
    best first, one per distinct (architecture, training) pair; ties keep the earlier
    trial. Ranked: the completed trials and, given the proxy's ``num_epochs``, those the
    pruner stopped after their last epoch: successive halving also judges the last rung
    (with 4 epochs, rungs at 2 and 4), so a run that trained every epoch but sits in the
    weaker half there ends PRUNED with its full proxy result."""
    done = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
                   or (num_epochs is not None and _pruned_after_last_epoch(t, num_epochs))),
                  key=lambda t: (-proxy_value(t), t.number))
    chosen, seen = [], set()
    for trial in done:
        key = (str(trial.user_attrs["architecture"]), str(sorted(trial.params.items())))
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen[:k]


def run_settings(architecture: dict, config: TrainConfig, train_images: int, evaluated_images: int,
                 split: str, val_fold: int = 0) -> dict:
    """What determines a run of stage 2 (``split`` "val") or 3 ("test"): the cache key of
    :func:`paths.cached_run` and of :func:`trained_weights`. architecture: the fields of an
    :class:`Architecture` (as stored); config by its fields that differ from
    TrainConfig's defaults (``changed_fields``); the image counts of the two splits; and
    the validation fold (``data.validation_split``) when it is not fold 0, so that the
    runs cached before folds existed keep their keys."""
    settings = {"architecture": architecture, "config": changed_fields(config), "train_images": train_images,
                f"{split}_images": evaluated_images}
    return settings | ({"val_fold": val_fold} if val_fold else {})


def _run_settings(trial: optuna.trial.FrozenTrial, num_epochs: int, train, evaluated, split: str,
                  val_fold: int = 0) -> dict:
    """:func:`run_settings` of a trial's design trained for ``num_epochs``."""
    return run_settings(trial.user_attrs["architecture"], training_of(trial, num_epochs), len(train),
                        len(evaluated), split, val_fold)


def _val_run(arch: Architecture, config: TrainConfig, seed: int, train, val, logits=None) -> dict:
    set_seed(seed)
    start = time.perf_counter()
    history = fit(SearchNet(arch), train, None, replace(config, seed=seed), log=None, val=val,
                  teacher_logits=logits)
    return {"seed": seed, "final_val_acc": history[-1]["val_acc"],
            "last3_min_val_acc": min(row["val_acc"] for row in history[-LAST_EPOCHS:]),
            "seconds": round(time.perf_counter() - start, 1), "history": history}


def confirm(trials: list[optuna.trial.FrozenTrial], train, val, seeds: list[int], num_epochs: int = 15,
            cache_dir: str | Path | None = None, log=print, val_fold: int = 0,
            teacher_epochs: int | None = None) -> list[dict]:
    """Stage 2: train each candidate (a trial chosen by :func:`top_trials`) for the full
    ``num_epochs`` on the validation split, once per seed, so the winner is chosen on
    validation over several seeds rather than on one short proxy run. The test set is not
    used. Runs are cached in ``cache_dir`` (default ``runs/search/runs/``).
    val_fold: the fold (``data.validation_split``) that ``train`` and ``val`` are, part of
    each run's cache key: the candidates were chosen on fold 0, so a fold they were not
    scored on (1) confirms them without the search's own luck on fold 0's images.
    A candidate that learned from a teacher does so here too, from the teacher trained
    on ``train`` (teacher_epochs: see :func:`teacher_lookup`).

    Returns one row per candidate, best first by **mean final validation accuracy**
    (ties: the higher mean of each seed's lowest validation accuracy over the last 3
    epochs, then the earlier trial): trial (number), search_val_acc (its proxy run),
    val_fold, params, architecture (dict), training ({lr, batch_size, max_rotation}),
    final_val_acc and last3_min_val_acc (``results.aggregate`` over the seeds), runs.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else runs_dir() / "search" / "runs"
    lookup = teacher_lookup(train, val, teacher_epochs, log)
    rows = []
    for trial in trials:
        arch, config = architecture_of(trial), training_of(trial, num_epochs)
        settings = _run_settings(trial, num_epochs, train, val, "val", val_fold)
        runs = []
        for seed in seeds:
            run, trained = cached_run(cache_dir, settings, seed,
                                      lambda a=arch, c=config, seed=seed: _val_run(a, c, seed, train, val,
                                                                                   lookup(c.teacher)))
            runs.append(run)
            if trained and log is not None:
                log(f"candidate trial {trial.number}, seed {seed}: final validation accuracy "
                    f"{run['final_val_acc']:.2f}%, lowest of the last {LAST_EPOCHS} epochs "
                    f"{run['last3_min_val_acc']:.2f}%, {run['seconds']:.0f} s")
        rows.append({"trial": trial.number, "search_val_acc": proxy_value(trial), "val_fold": val_fold,
                     "params": trial.user_attrs["params"],
                     "architecture": trial.user_attrs["architecture"],
                     "training": {k: trial.params[k] for k in ("lr", "batch_size", "max_rotation")},
                     "final_val_acc": aggregate([r["final_val_acc"] for r in runs]),
                     "last3_min_val_acc": aggregate([r["last3_min_val_acc"] for r in runs]), "runs": runs})
    return sorted(rows, key=lambda r: (-r["final_val_acc"]["mean"], -r["last3_min_val_acc"]["mean"], r["trial"]))


def retrain(trial: optuna.trial.FrozenTrial, train, test, seeds: list[int], num_epochs: int = 15,
            log=print, cache_dir: str | Path | None = None, teacher_epochs: int | None = None) -> list[dict]:
    """Stage 3: train a chosen trial's architecture and knobs in full: on ``train`` (all
    60,000 images for the record) for ``num_epochs``, once per seed, evaluating ``test``
    after every epoch for the record only (it chose nothing: the trial was chosen on
    validation). Returns one ``results.summarize_run`` dict per seed; ``log`` gets one
    line per seed trained. cache_dir: where runs are cached (:func:`paths.cached_run`),
    each with its final weights (:func:`trained_weights` finds them); None trains every
    run afresh and keeps no weights. A trial that learned from a teacher does so here too,
    from the teacher trained on ``train`` (the test set is evaluated for the teacher's
    record only; teacher_epochs: see :func:`teacher_lookup`)."""
    settings = _run_settings(trial, num_epochs, train, test, "test")
    lookup = teacher_lookup(train, test, teacher_epochs, log)

    def train_one(seed: int) -> dict:
        set_seed(seed)
        model = SearchNet(architecture_of(trial))
        start = time.perf_counter()
        config = training_of(trial, num_epochs)
        history = fit(model, train, test, replace(config, seed=seed), log=None,
                      teacher_logits=lookup(config.teacher))
        if cache_dir is not None:
            save_weights(model, trained_weights(cache_dir, settings, seed))
        return summarize_run(history, seed, time.perf_counter() - start)

    runs = []
    for seed in seeds:
        if cache_dir is None:
            run, trained = train_one(seed), True
        else:
            if not trained_weights(cache_dir, settings, seed).is_file():  # a run is kept with its weights
                cached_run_path(cache_dir, settings, seed).unlink(missing_ok=True)
            run, trained = cached_run(cache_dir, settings, seed, lambda seed=seed: train_one(seed))
        runs.append(run)
        if trained and log is not None:
            log(f"trial {trial.number}, seed {seed}: final test accuracy {run['final_test_acc']:.2f}%, "
                f"lowest of the last {LAST_EPOCHS} epochs {run['last3_min_test_acc']:.2f}%, {run['seconds']:.0f} s")
    return runs


def trained_weights(cache_dir: str | Path, settings: dict, seed: int) -> Path:
    """Where :func:`retrain` keeps the final weights of one run (a state_dict file)."""
    return Path(cache_dir) / "weights" / f"{settings_key(settings)}-seed{seed}.pt"


def study_counts(study: optuna.Study, num_epochs: int | None = None) -> dict:
    """How a study's trials ended: trials, not_trained (pruned before any epoch: over
    the budget, under its floor or not buildable), pruned (stopped after an epoch by
    successive halving), complete, failed (interrupted, e.g. a worker killed mid-trial),
    and best_val_acc (the best proxy result of the runs :func:`top_trials` ranks,
    percent; None if none). Given the proxy's ``num_epochs``, also pruned_last (those of
    the pruned that had trained every epoch: judged at the last rung, ranked all the same)."""
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    not_trained = sum(1 for t in pruned if _rejected(t))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = top_trials(study, 1, num_epochs)
    counts = {"trials": len(study.trials), "not_trained": not_trained, "pruned": len(pruned) - not_trained,
              "complete": len(done), "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials),
              "best_val_acc": proxy_value(best[0]) if best else None}
    if num_epochs is not None:
        counts["pruned_last"] = sum(1 for t in pruned if _pruned_after_last_epoch(t, num_epochs))
    return counts


SEPARABLE_NOTES = {"none": "", "after_pool": ", separable after pool", "all": ", separable after conv1"}


def format_candidates(rows: list[dict], val_images: int | None = None) -> str:
    """A text table of :func:`confirm`'s rows: trial, parameters, the layers, training
    knobs, the proxy's validation accuracy and the full runs' mean ± std; a trailing *
    marks the narrowed Step 4, + Step 4 made separable after the pool, # Step 4 made
    separable after its first convolution, without transition (the warm starts:
    ``WARM_STARTS``). Given the number of ``val_images``, a last line gives the scale of
    the validation split's noise (naming the fold when it is not fold 0):
    one image in points, and the binomial standard error of an accuracy p on that many
    images, sqrt(p (1 - p) / n), at the best row's mean (points)."""
    lines = [f"{'trial':>5} {'params':>7}  {'layers (before pool | transition | after pool)':<66} "
             f"{'lr':>6} {'batch':>5} {'rot':>4} {'proxy val':>9}  final val acc (%), mean ± std (n)"]
    for r in rows:
        a = r["architecture"]
        layers = (f"{'-'.join(map(str, a['before_pool']))} | {a['transition'] or '-'} | "
                  f"{'-'.join(map(str, a['after_pool']))}, "
                  f"{'3x3 pad ' + str(a['last_padding']) if a.get('head', 'conv') == 'conv' else 'GAP-1x1'}, "
                  f"drop {a['dropout']:g}" + SEPARABLE_NOTES[a.get("separable", "none")])
        t = r["training"]
        trial = f"{r['trial']}{WARM_STARTS.get(r.get('warm_start'), (None, ''))[1]}"
        lines.append(f"{trial:>5} {r['params']:>7,}  {layers:<66} {t['lr']:>6.3f} {t['batch_size']:>5} "
                     f"{t['max_rotation']:>4g} {r['search_val_acc']:>8.2f}%  {format_mean_std(r['final_val_acc'])}")
    for kind, (_, mark, about) in WARM_STARTS.items():
        if any(r.get("warm_start") == kind for r in rows):
            lines.append(f"{mark} {about}, confirmed beside the search's best")
    if val_images and rows:
        p = rows[0]["final_val_acc"]["mean"] / 100
        fold = rows[0].get("val_fold", 0)  # rows recorded before folds existed validated on fold 0
        lines.append(f"validation noise: {val_images:,} images" + (f" (fold {fold})" if fold else "")
                     + f", one image = {100 / val_images:.2f} points; binomial "
                     f"standard error at {100 * p:.2f}%: {100 * (p * (1 - p) / val_images) ** 0.5:.2f} points")
    return "\n".join(lines)


def default_storage() -> str:
    """SQLite in runs/search/ (git-ignored): a re-run continues the stored studies."""
    folder = runs_dir() / "search"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'search.db'}"


def open_storage(url: str | None):
    """An Optuna storage for ``url``: None -> :func:`default_storage`; ``journal:<file>``
    -> Optuna's journal file storage (append-only, for processes sharing a file
    system); ``memory`` -> kept in this process only (quick checks); anything else is
    passed to Optuna (sqlite:///..., postgresql://..., ...)."""
    url = url or default_storage()
    if url == "memory":
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    return url


def run_search(budget: int, n_trials: int, train, val, *, storage: str | None = None, num_epochs: int = 6,
               seed: int | None = None, study_name: str | None = None, total: bool = False,
               warm_start: bool = True, min_share: float = 0.6, architecture_only: bool = False,
               teacher: str = "", teacher_epochs: int | None = None) -> optuna.Study:
    """Train ``n_trials`` more trials of the study for ``budget`` (created on first use,
    named ``budget-<budget>``, with ``-arch`` for ``architecture_only`` and ``-<teacher>``
    for a teacher, unless ``study_name`` is given) in ``storage``; several
    processes may call this on one storage at once. A trial counts when it trains
    (:func:`trained_trials`): samples over the budget (or under ``min_share`` of it) are rejected at no cost and drawn
    again, up to ``MAX_SAMPLES_PER_TRIAL`` per trial (then a warning). seed: the
    sampler's seed (give each worker its own, or None). total: run until the study holds
    ``n_trials`` trained trials in all, counting those of earlier runs and of other
    workers, so a re-run after an interruption only completes the study.
    warm_start: queue the hand-made ``WARM_STARTS`` with Step 4's training knobs
    (Optuna's ``enqueue_trial``): a new study's first trial is :func:`step4_narrowed`,
    the next :func:`step4_separable` and :func:`step4_all_separable`, so the search starts
    where a learner reshaping Step 4 by hand would and has to beat them; a continued study
    gets those it lacks (not the narrowed one). min_share: samples with fewer
    than ``min_share * budget`` parameters are rejected like those over the budget: the
    most accurate model under a budget sits near it (a much smaller one is a smaller
    budget's question), and on a CPU every trained trial should spend the budget.
    architecture_only: every trial trains with Step 4's recipe (``STEP4_TRAINING``, no
    dropout) and only the layers are searched: a short proxy run favours knobs that fit
    fast (a higher rate, less augmentation) over those that end best after 15 epochs.
    teacher: every trial learns from this teacher (``distill.TEACHERS``) with
    ``DISTILLATION``, as Step 6 trains, so that the search looks for the model that learns
    best from it; the teacher is trained once on ``train`` (``teacher_epochs`` overrides
    its epochs, for quick checks) and cached. "" (default): the labels alone.
    Raises ValueError for a bad budget, n_trials, min_share or teacher. Returns the study."""
    if not (isinstance(budget, int) and budget > 0):
        raise ValueError(f"budget={budget!r} is invalid; use a positive number of parameters")
    if not (isinstance(n_trials, int) and n_trials >= 0):
        raise ValueError(f"n_trials={n_trials!r} is invalid; use a whole number >= 0")
    if not 0 <= min_share < 1:
        raise ValueError(f"min_share={min_share!r} is invalid; use a fraction of the budget in [0, 1)")
    if teacher and teacher not in TEACHERS:
        raise ValueError(f"teacher={teacher!r} is unknown; valid: '' (none) or {', '.join(map(repr, TEACHERS))}")
    # Successive halving judges a trial first after 2 epochs and keeps the better half of
    # those judged there. Optuna's default (judged after 1 epoch, the best quarter kept)
    # ranked designs on their warm-up: in a 40-trial preview at 5,000 parameters 13
    # trials were stopped after one epoch and only 9 ran to the end.
    study = optuna.create_study(
        study_name=study_name or f"budget-{budget}" + ("-arch" if architecture_only else "")
        + (f"-{teacher}" if teacher else ""),
        storage=open_storage(storage), direction="maximize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2))
    # A study's proxy runs are comparable only at one length: the first call stores it, and
    # a continuation with another length (or a worker started with another --epochs) is
    # refused before it trains, rather than ranking 4-epoch runs against 6-epoch ones.
    stored = study.user_attrs.get("proxy_epochs")
    if stored is None:
        study.set_user_attr("proxy_epochs", num_epochs)
    elif stored != num_epochs:
        raise ValueError(f"num_epochs={num_epochs!r} differs from the {stored} epochs of the proxy runs already "
                         f"in study {study.study_name!r}; continue it with {stored}, or name another study")
    # Trials count when they train (or are training, in any worker): a sample over the
    # budget costs nothing and is not one of the n_trials, else about half of a study's
    # trials would go to rejections. A queued trial (a warm start) is still to run.
    # total: the study's trained trials, from every run and worker; else this call's own.
    remaining = n_trials - trained_trials(study) if total else n_trials
    trained_here = 0
    if remaining > 0:
        # The warm starts (WARM_STARTS), with Step 4's training, queued when trials are to
        # run: a new study's first trial is Step 4 narrowed to the budget, then Step 4 made
        # separable after the pool, then after its first convolution, each widened to the
        # budget; a study begun before a warm start existed gets it when it is continued.
        new = not study.trials
        for kind, (make, _, _) in WARM_STARTS.items() if warm_start else ():
            start = make(budget) if (new or kind != "narrowed") else None
            if start is not None and not _tried(study, start):
                study.enqueue_trial(trial_params(start, STEP4_TRAINING))

        def stop_at_target(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            nonlocal trained_here
            trained_here += not _rejected(trial)
            if (trained_trials(study) >= n_trials) if total else (trained_here >= n_trials):
                study.stop()

        attempts = MAX_SAMPLES_PER_TRIAL * remaining
        floor = int(min_share * budget)
        fixed = STEP4_TRAINING if architecture_only else None
        logits = teacher_lookup(train, val, teacher_epochs)(teacher)
        study.optimize(lambda trial: objective(trial, budget, train, val, num_epochs, min_params=floor,
                                               fixed_training=fixed, teacher=teacher, logits=logits),
                       n_trials=attempts,
                       callbacks=[stop_at_target])
        short = (n_trials - trained_trials(study)) if total else (n_trials - trained_here)
        if short > 0:
            warnings.warn(f"budget {budget:,}: {n_trials - short} of {n_trials} trials trained after {attempts} "
                          f"samples; the others were over the budget or under {min_share:.0%} of it (is the budget "
                          f"below the space's smallest model?)",
                          stacklevel=2)
    return study


MAX_SAMPLES_PER_TRIAL = 20  # samples drawn per trial still to train before run_search gives up


def trained_trials(study: optuna.Study) -> int:
    """Trials that trained or are training: complete, running, or pruned after an epoch.
    Not counted: those still queued, those rejected before any epoch (over the budget,
    under its floor or not buildable: pruned with no epoch reported) and failed ones
    (e.g. a worker killed mid-trial, marked failed), so a re-run trains them again."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.PRUNED)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if not _rejected(t))


def _rejected(trial: optuna.trial.FrozenTrial) -> bool:
    """Pruned before its first epoch: over the budget, under its floor or not buildable
    (see :func:`objective`)."""
    return trial.state == optuna.trial.TrialState.PRUNED and not trial.intermediate_values


@dataclass(frozen=True)
class SearchSettings:
    """Checked settings of Step 5's search (see :func:`check_search`)."""

    budgets: list[int]        # one study per budget: a model must have fewer parameters
    trials: list[int]         # trials of each budget's study in all (one per budget); a re-run
                              # completes the stored study to this
    search_epochs: int        # epochs of a proxy run on the validation split
    candidates: int           # best proxy runs per budget, confirmed on validation over confirm_seeds
    confirm_seeds: list[int]  # seeds of each candidate's confirmation runs
    confirm_fold: int         # validation fold of the confirmation (data.validation_split): 0 = the
                              # search's own 5,000 images; 1 = the next 5,000, which no proxy run scored
    storage: str              # Optuna storage URL ("memory" in quick mode)
    cache_dir: Path           # runs of stages 2 and 3 (runs/search/runs/; a temp folder in quick mode)
    sampler_seed: int = 1     # TPE's seed: the same trials are proposed on every run
    architecture_only: bool = False  # True: layers only, trained with Step 4's recipe (STEP4_TRAINING)
    quick: bool = False       # a check of the code on a slice (its folds are twelfths of the slice)
    teacher: str = ""         # every run learns from this teacher (distill.TEACHERS) with DISTILLATION;
                              # "": from the labels alone

    @property
    def teacher_epochs(self) -> int | None:
        """The teacher's epochs: its recipe's (None), or 1 in quick mode."""
        return 1 if self.quick else None

    def trials_for(self, budget: int) -> int:
        """Trials of the study for ``budget`` in all. Raises ValueError for a budget not searched."""
        if budget not in self.budgets:
            raise ValueError(f"budget={budget!r} is not one of this search's budgets {self.budgets}")
        return self.trials[self.budgets.index(budget)]

    def describe(self) -> str:
        """One line naming the settings; a file storage is named relative to the repository."""
        shown = self.storage.replace(str(REPO_ROOT) + "/", "")
        trials = self.trials[0] if len(set(self.trials)) == 1 else self.trials
        return (f"budgets={self.budgets} trials={trials} search_epochs={self.search_epochs} "
                f"candidates={self.candidates} confirm_seeds={self.confirm_seeds} storage={shown}"
                + (f" confirm_fold={self.confirm_fold}" if self.confirm_fold else "")
                + (" architecture_only=True" if self.architecture_only else "")
                + (f" teacher={self.teacher}" if self.teacher else ""))


def check_search(*, budgets, trials, search_epochs, candidates, confirm_seeds, storage=None,
                 quick: bool = False, architecture_only: bool = False, confirm_fold: int = 0,
                 teacher: str = "") -> SearchSettings:
    """Validate Step 5's notebook parameters. budgets: a non-empty list of distinct
    parameter counts > 0; trials: a whole number >= 1 (every study) or a list of them,
    one per budget; search_epochs, candidates: whole numbers >= 1;
    confirm_seeds: a non-empty list of distinct whole numbers; confirm_fold: the
    validation fold of stage 2, a whole number from 0 to ``FOLDS`` - 1 (0: the search's
    own validation images; see :func:`search_budget`); storage: an Optuna URL,
    ``journal:<file>``, or None (SQLite in runs/search/); architecture_only: True or
    False (see :func:`run_search`); teacher: "" or a name of ``distill.TEACHERS`` (see
    :func:`run_search`). Quick mode (a check of the
    code): the first budget, 4 trials of 1 epoch, 1 candidate, 1 seed, storage in memory.
    Raises ValueError naming the parameter, its value and what is valid."""
    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not (isinstance(budgets, (list, tuple)) and budgets and all(whole(b) and b > 0 for b in budgets)
            and len(set(budgets)) == len(budgets)):
        raise ValueError(f"budgets={budgets!r} is invalid; use a non-empty list of distinct parameter counts "
                         f"> 0 (e.g. [6000, 5000, 4000, 3000]){list_hint('budgets', budgets)}")
    per_budget = list(trials) if isinstance(trials, (list, tuple)) else [trials] * len(budgets)
    if len(per_budget) != len(budgets) or not all(whole(t) and t >= 1 for t in per_budget):
        raise ValueError(f"trials={trials!r} is invalid; use a whole number >= 1 (every budget) or a list of "
                         f"{len(budgets)} of them, one per budget of {budgets}{list_hint('trials', trials)}")
    for name, value in (("search_epochs", search_epochs), ("candidates", candidates)):
        if not (whole(value) and value >= 1):
            raise ValueError(f"{name}={value!r} is invalid; use a whole number >= 1")
    if not (isinstance(confirm_seeds, (list, tuple)) and confirm_seeds and all(whole(s) for s in confirm_seeds)
            and len(set(confirm_seeds)) == len(confirm_seeds)):
        raise ValueError(f"confirm_seeds={confirm_seeds!r} is invalid; use a non-empty list of distinct whole "
                         f"numbers (e.g. [1, 2, 3]){list_hint('confirm_seeds', confirm_seeds)}")
    if not (whole(confirm_fold) and 0 <= confirm_fold < FOLDS):
        raise ValueError(f"confirm_fold={confirm_fold!r} is invalid; use a whole number from 0 (the search's own "
                         f"validation images) to {FOLDS - 1}")
    if storage is not None and not isinstance(storage, str):
        raise ValueError(f"storage={storage!r} is invalid; use an Optuna storage URL, journal:<file>, or None")
    if not isinstance(architecture_only, bool):
        raise ValueError(f"architecture_only={architecture_only!r} is invalid; use True or False")
    if not (isinstance(teacher, str) and (teacher == "" or teacher in TEACHERS)):
        raise ValueError(f"teacher={teacher!r} is invalid; use '' (none) or one of {', '.join(map(repr, TEACHERS))}")
    if quick:
        return SearchSettings(list(budgets[:1]), [min(per_budget[0], 4)], 1, 1, list(confirm_seeds[:1]), confirm_fold,
                              "memory", quick_dir("search"), architecture_only=architecture_only, quick=True,
                              teacher=teacher)
    return SearchSettings(list(budgets), per_budget, search_epochs, candidates, list(confirm_seeds), confirm_fold,
                          storage or default_storage(), runs_dir() / "search" / "runs",
                          architecture_only=architecture_only, teacher=teacher)


def search_budget(budget: int, settings: SearchSettings, train, val, full_train, test, seeds: list[int],
                  num_epochs: int = 15, log=print) -> dict:
    """Step 5 for one budget, in three stages, each choosing on validation only:

    1. the search: ``settings.trials_for(budget)`` proxy runs (``settings.search_epochs`` epochs on
       ``train``, validated on ``val``), pruned by successive halving; resumes a stored study;
    2. confirmation: the ``settings.candidates`` best proxy runs, and the hand-made warm
       starts (:func:`warm_start_of`: ``WARM_STARTS``; those that trained and are not
       among them), trained for ``num_epochs`` over ``settings.confirm_seeds`` on the
       validation fold ``settings.confirm_fold`` of ``full_train`` (fold 0 is ``train`` /
       ``val``, the search's own split); the winner has the highest mean final validation
       accuracy (:func:`confirm`); each row's ``warm_start`` names the warm start it is
       (a key of ``WARM_STARTS``) or is None;
    3. the record: the winner trained on ``full_train`` (all 60,000 images) for
       ``num_epochs`` once per seed of ``seeds``, the test set evaluated after every epoch
       and choosing nothing (:func:`retrain`).

    Runs of stages 2 and 3 are cached in ``settings.cache_dir``, so an interrupted
    notebook continues. Returns {"budget", "counts" (:func:`study_counts`),
    "confirm_fold", "candidates" (:func:`confirm`'s rows), "winner" (the first of them), "architecture"
    (the winner's :class:`Architecture`), "config" (its TrainConfig), "runs" (stage 3),
    "weights" (seed -> the state_dict file of its stage-3 run), "study" (the Optuna study,
    for its plots)}.
    Raises ValueError when no trial of the study completed (too few trials or a budget
    too small for the space).
    """
    study = run_search(budget, settings.trials_for(budget), train, val, storage=settings.storage,
                       num_epochs=settings.search_epochs, seed=settings.sampler_seed, total=True,
                       architecture_only=settings.architecture_only, teacher=settings.teacher,
                       teacher_epochs=settings.teacher_epochs)
    counts = study_counts(study, settings.search_epochs)
    if log is not None:
        log(f"budget {budget:,}: {counts['trials']} trials, {counts['not_trained']} not trained (over the budget, "
            f"under 60% of it or not buildable), {counts['pruned']} stopped by the pruner ({counts['pruned_last']} "
            f"of them after their last epoch), {counts['complete']} complete"
            + (f", {counts['failed']} failed (interrupted; trained again)" if counts["failed"] else ""))
    chosen = top_trials(study, settings.candidates, settings.search_epochs)
    if not chosen:
        raise ValueError(f"no trial of the study for budget {budget:,} completed; run more trials "
                         f"(trials={settings.trials_for(budget)}) or raise the budget")
    # The hand-made warm starts are always confirmed too, so the search is judged against
    # them on the same footing (15 epochs, the same seeds) rather than on a short proxy.
    # (A warm start among the chosen, or a later trial that sampled the same point, is
    # not confirmed twice.)
    starts = {kind: None for kind in (warm_start_of(c, budget) for c in chosen) if kind}
    for t in study.trials:
        kind = warm_start_of(t, budget)
        if kind and kind not in starts:
            starts[kind] = t
    # Stage 2 on a fold no proxy run scored (confirm_fold > 0): the candidates are the best
    # of many on fold 0's images, so part of their lead there is luck on those images (the
    # winner's curse; study 05_search-fold1 measured it on the recorded winner).
    fold = settings.confirm_fold
    confirm_train, confirm_val = (train, val) if fold == 0 else course_validation_split(full_train, settings.quick,
                                                                                         fold)
    rows = confirm(chosen + [starts[k] for k in WARM_STARTS if starts.get(k) is not None], confirm_train,
                   confirm_val, settings.confirm_seeds, num_epochs, settings.cache_dir, log, fold,
                   settings.teacher_epochs)
    for row in rows:
        row["warm_start"] = warm_start_of(study.trials[row["trial"]], budget)
    winner = study.trials[rows[0]["trial"]]
    runs = retrain(winner, full_train, test, seeds, num_epochs, log, settings.cache_dir, settings.teacher_epochs)
    return {"budget": budget, "counts": counts, "confirm_fold": fold, "candidates": rows, "winner": rows[0],
            "architecture": architecture_of(winner), "config": training_of(winner, num_epochs), "runs": runs,
            "weights": {seed: trained_weights(settings.cache_dir, _run_settings(winner, num_epochs, full_train,
                                                                                test, "test"), seed)
                        for seed in seeds},
            "study": study}


def trained_model(result: dict, seed: int) -> nn.Module:
    """The winner of :func:`search_budget`'s ``result`` as trained with ``seed`` in stage 3
    (its final epoch's weights), in eval mode on the CPU. Raises FileNotFoundError
    if that run's weights are not in the cache (e.g. cached by an older version)."""
    return load_weights(SearchNet(result["architecture"]), result["weights"][seed]).eval()


def plot_search(study: optuna.Study, path: str | Path | None = None) -> list:
    """Optuna's own matplotlib plots of one study: the optimisation history (each
    completed proxy run's final validation accuracy, and the best so far) and, with at
    least 2 completed trials, the parameter importances (Optuna's default evaluator;
    its warnings about settings tried fewer than twice are silenced). With ``path`` each is
    also saved as ``<path>_history.png`` / ``<path>_importances.png``. Returns the figures."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots = [("history", plot_optimization_history)] + ([("importances", plot_param_importances)]
                                                        if len(done) >= 2 else [])
    figures = []
    for name, plot in plots:
        with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", "Some regimes for parameter", UserWarning)
            ax = plot(study)
        ax.set_title(f"{study.study_name}: {ax.get_title().lower()}")
        fig = ax.figure
        fig.set_size_inches(7, 3.6)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, f"{path}_{name}.png")
        figures.append(fig)
    return figures


def plot_front(results: dict, reference: dict | None = None, path: str | Path | None = None):
    """What each budget bought. Left: every completed proxy run of every study,
    parameters (log scale) against final validation accuracy, a dashed line at each
    budget. Right: each budget's winner trained on all 60,000 images, final-epoch test
    accuracy mean with min-max bars over its seeds, and ``reference`` (a step's report,
    e.g. Step 4's) for comparison; the 99.4% goal dashed. results: {budget:
    :func:`search_budget`'s result}. Saved as PNG at ``path`` if given. Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for budget, result in sorted(results.items()):
        done = [t for t in result["study"].trials if t.state == optuna.trial.TrialState.COMPLETE]
        line = left.scatter([t.user_attrs["params"] for t in done], [t.value for t in done], s=14,
                            label=f"budget {budget:,}")
        left.axvline(budget, ls="--", lw=0.8, color=line.get_facecolor()[0])
        accs = [r["final_test_acc"] for r in result["runs"]]
        mean = sum(accs) / len(accs)
        right.errorbar([result["winner"]["params"]], [mean], yerr=[[mean - min(accs)], [max(accs) - mean]],
                       fmt="o", capsize=3, label=f"budget {budget:,} (n = {len(accs)})")
    if reference is not None:
        accs = [r["final_test_acc"] for r in reference["runs"]]
        mean = sum(accs) / len(accs)
        right.errorbar([reference["params"]], [mean], yerr=[[mean - min(accs)], [max(accs) - mean]], fmt="s",
                       color="black", capsize=3, label=f"{reference['step']} (n = {len(accs)})")
    right.axhline(99.4, ls="--", lw=0.8, color="grey")
    for ax, ylabel, title in ((left, "final validation accuracy (%)", "the search: proxy runs"),
                              (right, "final test accuracy (%)", "the record: winners, all 60,000 images")):
        ax.set(xscale="log", xlabel="parameters (log scale)", ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Step 5: search the design space under a parameter budget "
                                                 "(validation split; the test set is never used).")
    parser.add_argument("--budget", type=int, required=True, help="parameters a model must stay below")
    parser.add_argument("--trials", type=int, default=20, help="trials this worker runs (default 20)")
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs of a proxy run (default 4, as notebook 05 records; a stored study keeps its own)")
    parser.add_argument("--storage", help="Optuna storage URL, or journal:<file>; default: SQLite in runs/search/")
    parser.add_argument("--study", help="study name (default budget-<budget>, with -arch and -<teacher> when set)")
    parser.add_argument("--architecture-only", action="store_true",
                        help="search the layers only, trained with Step 4's recipe (lr 0.1, batch 64, ±7°, no dropout)")
    parser.add_argument("--teacher", default="", help="every trial learns from this teacher (distill.TEACHERS, "
                        "e.g. wide57k) as Step 6 trains; default: the labels alone")
    parser.add_argument("--seed", type=int, help="the sampler's seed (one per worker)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--quick", action="store_true", help="1 epoch on the first 2,000 training images "
                        "(a check of the code, not a search)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    limit, epochs = (2_000, 1) if args.quick else (None, args.epochs)
    full = load_mnist(True, args.data_dir, device, limit=limit)
    train, val = course_validation_split(full, args.quick)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = run_search(args.budget, args.trials, train, val, storage=args.storage, num_epochs=epochs,
                           seed=args.seed, study_name=args.study, architecture_only=args.architecture_only,
                           teacher=args.teacher, teacher_epochs=1 if args.quick else None)
    except ValueError as e:
        parser.error(str(e))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"study {study.study_name}: {len(study.trials)} trials ({len(done)} trained to the end)")
    if done:
        best = study.best_trial
        print(f"best: trial {best.number}, {best.value:.2f}% validation, {best.user_attrs['params']:,} parameters, "
              f"{best.params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
