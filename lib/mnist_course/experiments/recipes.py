"""Recipes: each step's model and training settings as data, one source for the step
notebooks, the ablations, the search, the benchmark and the scripts.

A **recipe** is a model (a key of ``models.BUILDERS`` and its keywords), a
``TrainConfig`` and, where it uses them, the pieces ``fit`` takes beside it: an
``Augmentation`` and ``Extras``. ``RECIPES[notebook]`` is what that step notebook trains
and records; ``apply_changes`` derives a variant from it by named changes, e.g.
``{"dropout": 0.0}`` (a keyword of the model class), ``{"max_rotation": 0.0}`` (a field of
``TrainConfig``), ``{"ema_decay": 0.999}`` (of ``Extras``), ``{"pct_start": 0.15}`` (of the
schedule) or ``{"max_scale": 0.1}`` (of the ``Augmentation``).
Which ablation chose each setting is named beside it; its outcome is computed from
its record (``reports/ablations/<name>.json``, ``ablation.show_ablation``), not written here.

    recipe = RECIPES["04_capacity"]
    model = get_model(recipe.model, **recipe.model_kwargs)   # Step 4 as recorded, 7,824 parameters
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields, replace

from torch import nn

from ..engine.augmentation import Augmentation
from ..engine.models import BUILDERS, VARIANTS, count_params, get_model, layer_table
from ..engine.optim import OneCycle, StepDecay, canonical_schedule, schedule_of
from ..engine.settings import RunSettings
from ..engine.training import Extras, TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A step's model and training settings, as its notebook uses them: ``fit(model,
    ..., config, augment=augment, extras=extras)``."""

    model: str                                        # a key of models.BUILDERS ("step4", "searched")
    config: TrainConfig                               # epochs, batch, lr, schedule, rotation and shift
    model_kwargs: dict = field(default_factory=dict)  # keywords of the model class (dropout=...)
    augment: Augmentation | None = None               # more augmentation than a rotation and shift
                                                      # (then holding those, the config's at 0); None: none
    extras: Extras | None = None                      # label smoothing, EMA, ...; None: none


# The step notebooks' recipes: their parameters cells' defaults and the TrainConfig of
# their Training cells (notebooks/0N_*.ipynb).
RECIPES = {
    "01_setup": Recipe("step1", TrainConfig(num_epochs=15, batch_size=128, lr=0.02, momentum=0.9)),
    "02_skeleton": Recipe("step2", TrainConfig(num_epochs=15, batch_size=128, lr=0.02, momentum=0.9)),
    "03_batchnorm": Recipe("step3", TrainConfig(num_epochs=15, batch_size=128, lr=0.05, momentum=0.9)),
    # Chosen on the validation split: batch 64 (ablation 04_capacity-design), no dropout
    # (04_capacity-dropout), the shift of ±2 pixels (04_capacity-augment).
    "04_capacity": Recipe("step4", TrainConfig(num_epochs=15, batch_size=64, lr=0.1, momentum=0.9,
                                               schedule="onecycle", max_rotation=7.0, max_shift=2)),
}

# Step 5's winner under 5,000 parameters (reports/05_search-5000.json, its "architecture";
# tests/test_ablation.py checks the two agree), trained as the search's stage 3 trained it:
# Step 4's recipe of that time (one-cycle peak 0.1, batch 64, rotation ±7°, no shift).
SEARCH_5000 = Recipe("searched", TrainConfig(num_epochs=15, batch_size=64, lr=0.1, momentum=0.9,
                                             schedule="onecycle", max_rotation=7.0),
                     {"before_pool": [16, 32], "transition": 0, "after_pool": [24, 32, 32], "last_padding": 0,
                      "dropout": 0.0, "head": "gap", "separable": "all"})
# Step 5's winner under 4,000 parameters (reports/05_search-4000.json; 3,914 parameters, no
# separable convolutions), trained the same way.
SEARCH_4000 = Recipe("searched", SEARCH_5000.config,
                     {"before_pool": [6, 12], "transition": 6, "after_pool": [10, 12, 12], "last_padding": 0,
                      "dropout": 0.0, "head": "gap"})
# Step 5's winner under 3,000 parameters (reports/05_search-3000.json; 2,864 parameters,
# every convolution but the first separable), trained the same way: the course's only
# searched model under reference 5's 3,762 parameters.
SEARCH_3000 = Recipe("searched", SEARCH_5000.config,
                     {"before_pool": [12, 24], "transition": 0, "after_pool": [16, 24, 24], "last_padding": 0,
                      "dropout": 0.0, "head": "gap", "separable": "all"})
# Step 6: that winner, unchanged, taught by distill.py's wide57k (half the loss from its
# logits at temperature 4), as ablation 05_search-distill measured it on fold 1.
RECIPES["06_teacher"] = Recipe(SEARCH_5000.model, replace(SEARCH_5000.config, teacher="wide57k", distill_weight=0.5,
                                                          distill_temperature=4.0), SEARCH_5000.model_kwargs)
# Step 7: the winner under 4,000 parameters, unchanged, taught as Step 6 teaches
# (ablation 05_search-distill4000 measured it on fold 1).
RECIPES["07_stretch"] = Recipe(SEARCH_4000.model, replace(
    SEARCH_4000.config, **{k: getattr(RECIPES["06_teacher"].config, k)
                           for k in ("teacher", "distill_weight", "distill_temperature")}), SEARCH_4000.model_kwargs)


def recipe_for_run(notebook: str, run: RunSettings) -> Recipe:
    """The recipe of ``notebook`` with the run's parameters (epochs, batch_size, lr), as
    its Training cell uses it. Raises ValueError for a notebook without a recipe."""
    if notebook not in RECIPES:
        raise ValueError(f"notebook={notebook!r} has no recipe; valid: {', '.join(RECIPES)}")
    return apply_changes(RECIPES[notebook], {"num_epochs": run.epochs, "batch_size": run.batch_size,
                                             "lr": run.lr})


SCHEDULE_DETAILS = {"pct_start": OneCycle, "three_phase": OneCycle, "step_size": StepDecay, "gamma": StepDecay}


def apply_changes(recipe: Recipe, changes: dict) -> Recipe:
    """The recipe with ``changes`` applied. Each name goes to the first that has it: a
    keyword of the recipe's model class, a TrainConfig field, an ``Extras`` field, a
    detail of the schedule (pct_start, three_phase: ``OneCycle``; step_size, gamma:
    ``StepDecay``), an ``Augmentation`` field. A change of the augmentation makes the
    recipe's ``augment`` an Augmentation that holds the config's rotation and shift
    (which become 0); a step model's keyword back at its default is dropped, a recipe whose pieces
    end at their defaults holds None, and an
    Augmentation of a rotation and shift alone goes back into the config, so equal
    trainings are equal recipes.

    Raises ValueError naming a change of none of these kinds, with the valid names of
    each; or a schedule detail for a recipe of another schedule.
    """
    keywords = inspect.signature(BUILDERS[VARIANTS.get(recipe.model, recipe.model)]).parameters
    kinds = {"model keywords": [p for p in keywords if p != "self"],
             "TrainConfig fields": [f.name for f in fields(TrainConfig) if f.name != "seed"],
             "Extras fields": [f.name for f in fields(Extras)], "schedule details": list(SCHEDULE_DETAILS),
             "Augmentation fields": [f.name for f in fields(Augmentation) if f.name not in ("max_rotation",
                                                                                              "max_shift")]}
    routed = {kind: {} for kind in kinds}
    for key, value in changes.items():
        kind = next((kind for kind, names in kinds.items() if key in names), None)
        if kind is None:
            raise ValueError(f"change {key!r} is invalid for {recipe.model}; valid: "
                             + "; ".join(f"{kind} {', '.join(names) or '(none)'}" for kind, names in kinds.items()))
        routed[kind][key] = value
    config = replace(recipe.config, **routed["TrainConfig fields"])
    schedule = schedule_of(config.schedule)
    if routed["schedule details"]:
        wrong = [k for k in routed["schedule details"] if not isinstance(schedule, SCHEDULE_DETAILS[k])]
        if wrong:
            raise ValueError(f"changes {wrong} are invalid for schedule={config.schedule!r}; "
                             f"pct_start, three_phase need 'onecycle', step_size, gamma need 'step'")
        schedule = replace(schedule, **routed["schedule details"])
    augment = recipe.augment
    if augment is not None or routed["Augmentation fields"]:
        moved = {k: v for k, v in routed["TrainConfig fields"].items() if k in ("max_rotation", "max_shift")}
        augment = replace(augment or Augmentation(config.max_rotation, config.max_shift), **moved,
                          **routed["Augmentation fields"])
    plain = augment is None or augment == Augmentation(augment.max_rotation, augment.max_shift)
    if augment is not None:  # the rotation and shift live in the augmentation, or back in the config
        config = replace(config, max_rotation=augment.max_rotation if plain else 0.0,
                         max_shift=augment.max_shift if plain else 0)
    extras = replace(recipe.extras or Extras(), **routed["Extras fields"])
    # A step model's keyword back at its default is no change (Step 4 is Step4Capacity).
    model_kwargs = {k: v for k, v in {**recipe.model_kwargs, **routed["model keywords"]}.items()
                    if recipe.model not in VARIANTS or v != keywords[k].default}
    return Recipe(recipe.model, replace(config, schedule=canonical_schedule(schedule)),
                  model_kwargs, None if plain else augment,
                  None if extras == Extras() else extras)


def _schedule_text(schedule) -> str:
    """The schedule of a config in words, as the "what changed" tables print it."""
    schedule = schedule_of(schedule)
    if isinstance(schedule, OneCycle):
        return ("three-phase one-cycle" if schedule.three_phase else "one-cycle") + (
            " (peak = lr)" if schedule.pct_start == 0.3
            else f" (peak = lr at {schedule.pct_start:.0%} of the optimizer steps)")
    if isinstance(schedule, StepDecay):
        return f"StepLR ×{schedule.gamma} every {schedule.step_size} epochs"
    return "constant" if schedule == "constant" else "one learning rate per epoch"


def describe_recipe(notebook: str) -> dict:
    """What a "what changed" table compares, computed from the recipe's model, TrainConfig
    and augmentation: {property: text}. Layers list each named layer with its output
    channels; "RF before GAP" is the receptive field (pixels) of the last map that GAP
    averages ("no GAP" for a fully connected head); "MaxPool after RF" the RF of the map
    that the first MaxPool receives."""
    recipe = RECIPES[notebook]
    model = get_model(recipe.model, **recipe.model_kwargs)
    rows = layer_table(model)
    names = [r["name"] for r in rows]
    pools = [i for i, (_, layer) in enumerate(model.named_children()) if isinstance(layer, nn.MaxPool2d)]
    dropouts = [m.p for m in model.modules() if isinstance(m, (nn.Dropout, nn.Dropout2d))]
    config = recipe.config
    augment = recipe.augment or Augmentation(config.max_rotation, config.max_shift)
    return {
        "layers (output channels)": " → ".join(
            r["name"] if r["name"].startswith(("pool", "gap")) else f"{r['name']} {r['shape'][0]}" for r in rows),
        "parameters": f"{count_params(model):,}",
        "BatchNorm": ", ".join(sorted({"yes" if m.momentum == 0.1 else f"yes, momentum {m.momentum:g}"
                                       for m in model.modules() if isinstance(m, nn.BatchNorm2d)})) or "no",
        "MaxPool after RF": ", ".join(str(rows[i - 1]["rf"]) for i in pools) or "none",
        "RF before GAP": str(rows[names.index("gap") - 1]["rf"]) if "gap" in names else "no GAP (fully connected head)",
        "dropout": ", ".join(sorted({f"{p:g}" for p in dropouts})) or "none",
        "optimizer": f"{config.optimizer.upper()}" + (f", momentum {config.momentum}" if config.optimizer == "sgd"
                                                        else ""),
        "learning rate": f"{config.lr:g}, {_schedule_text(config.schedule)}",
        "batch size, epochs": f"{config.batch_size}, {config.num_epochs}",
        "augmentation": ", ".join(
            ([f"random rotation ±{augment.max_rotation:g}°"] if augment.max_rotation else [])
            + ([f"shift ±{augment.max_shift} px"] if augment.max_shift else [])
            + ([f"scale ±{augment.max_scale:.0%}"] if augment.max_scale else [])
            + ([f"elastic α {augment.elastic_alpha:g} px, σ {augment.elastic_sigma:g} px"]
               if augment.elastic_alpha else [])) or "none",
    }


def what_changed(before: str, after: str) -> str:
    """A markdown table of :func:`describe_recipe` for two step notebooks side by side,
    changed properties in bold. Raises ValueError for a notebook without a recipe."""
    for name in (before, after):
        if name not in RECIPES:
            raise ValueError(f"notebook={name!r} has no recipe; valid: {', '.join(RECIPES)}")
    a, b = describe_recipe(before), describe_recipe(after)
    lines = [f"| | {before} | {after} |", "|---|---|---|"]
    for key in a:
        mark = "**" if a[key] != b[key] else ""
        lines.append(f"| {mark}{key}{mark} | {a[key]} | {mark}{b[key]}{mark} |")
    return "\n".join(lines)
