"""Step 5's design space: what the search may choose, and how a trial becomes a model
and a training.

The skeleton of Steps 2-4, generalised (``models.Architecture``): widths of the 3x3
convolutions before and after the MaxPool (:data:`WIDTHS`, or
:data:`SEPARABLE_WIDTHS` when depthwise-separable), a 1x1 transition
(:data:`TRANSITIONS`), dropout after the pool (:data:`DROPOUTS`) and the head. Step 4
is one point of it (:data:`STEP4`, 7,824 parameters), and the warm starts
(:data:`WARM_STARTS`) fit Step 4 to a smaller budget by hand, as a learner would, so
every search tries those first. :func:`suggest_architecture` and :func:`suggest_training`
draw a trial's choices (Optuna's define-by-run API); :func:`architecture_of` and
:func:`training_of` read them back from a finished trial.
"""

from __future__ import annotations

from dataclasses import replace

import optuna

from ..engine.models import HEADS, SEPARABLE, Architecture, architecture_params, separable_at
from ..engine.results import format_mean_std
from ..engine.training import TrainConfig
from .recipes import RECIPES

WIDTHS = (4, 6, 8, 10, 12, 14, 16, 20, 24)  # channels a searched 3x3 convolution may have


# ... and a depthwise-separable one: it costs ~C_in x C_out weights instead of 9 x C_in x C_out,
# so at the same budget it can be about three times as wide. Its widths are their own
# parameters (``<block>_<i>_sep``): a study's choices for a parameter cannot change once stored.
SEPARABLE_WIDTHS = (8, 12, 16, 20, 24, 32, 40, 48)


TRANSITIONS = (0, 6, 8, 10, 12)             # 1x1 transition widths; 0 = no transition


# Step 4 as a point of the space (models.Step4Capacity: no dropout since ablation
# 04_capacity-dropout): a check of the formula and a reference for the searched models.
STEP4 = Architecture(before_pool=(8, 16), transition=8, after_pool=(12, 16, 16), last_padding=1, dropout=0.0)


# Step 4's training knobs, from its recipe: the one-cycle peak rate, the batch its
# design ablation chose on validation, and the rotation. Not the shift of ±2 pixels that
# Step 4 adopted after the recorded search (ablation 04_capacity-augment): the stored
# studies were searched without it, and ablation 05_search-augment measures it on the
# winner under 5,000 parameters before the search takes it.
STEP4_TRAINING = {k: getattr(RECIPES["04_capacity"].config, k) for k in ("lr", "batch_size", "max_rotation")}


# How a search with a teacher (``run_search(teacher=...)``) trains every run: Step 6's
# distillation (half the loss from the teacher's logits at temperature 4), which ablation
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


def already_tried(study: optuna.Study, arch: Architecture) -> bool:
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


def is_rejected(trial: optuna.trial.FrozenTrial) -> bool:
    """Pruned before its first epoch: over the budget, under its floor or not buildable
    (see :func:`objective`)."""
    return trial.state == optuna.trial.TrialState.PRUNED and not trial.intermediate_values
