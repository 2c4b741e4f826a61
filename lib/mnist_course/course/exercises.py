"""Exercises that retrain: a step's recipe and one change to its network or its training,
both trained from the same seed on the same slice of the training images and scored on
the course's validation split, so that a learner can predict an effect, run it in a
minute or two on a laptop CPU, and check the prediction (``notebooks/exercises/``).

Nothing here records and nothing sees the test set: an exercise is one seed on a slice,
a check of a prediction, not a measurement of the course (the step notebooks and their
records in ``reports/`` are). The difference it prints comes with the binomial noise of
two accuracies on the validation images, so that "the same" has a size.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import torch

from ..engine.data import MNISTSplit, course_validation_split, load_mnist
from ..engine.models import count_params
from ..engine.paths import quick_dir
from ..engine.settings import RunSettings
from ..engine.training import device_name, fit, resolve_device
from ..experiments.distill import logits_of, train_teacher
from ..experiments.recipes import RECIPES, SEARCH_5000, Recipe, apply_changes
from .steps import build_model

SLICE_IMAGES = 10_000  # training images of an exercise run: the first 10,000 after the validation split's 5,000
SLICE_EPOCHS = 3       # epochs of an exercise run
PREDICTIONS = ("higher", "lower", "same")
# Each step's recipe; Step 5's is its winner under 5,000 parameters as the search trained it.
STEP_RECIPES = {**RECIPES, "05_search": SEARCH_5000}


def load_slice(run: RunSettings, images: int = SLICE_IMAGES) -> tuple[torch.device, MNISTSplit, MNISTSplit]:
    """(device, train, val): the course's validation split of the training images
    (``data.course_validation_split``: its first 5,000 images, or a twelfth of a
    quick-mode slice) and the first ``images`` of the rest to train on, on the run's
    device; prints what was loaded. Raises ValueError unless ``images`` is a whole number
    >= 1, and what ``load_mnist`` raises for missing data."""
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ValueError(f"train_images={images!r} is invalid; use a whole number >= 1 (e.g. 10000)")
    device = resolve_device(run.device, verbose=True)
    train, val = course_validation_split(load_mnist(True, run.data_dir, device, limit=run.train_limit), run.quick)
    train = MNISTSplit(train.X[:images], train.y[:images])
    mode = "QUICK MODE (a check of the code)" if run.quick else "a slice"
    print(f"train X {tuple(train.X.shape)}, validation X {tuple(val.X.shape)} on {device_name(device)}; {mode}")
    return device, train, val


def exercise_recipe(notebook: str, change: dict | None = None) -> Recipe:
    """The recipe of step ``notebook`` (``STEP_RECIPES``) with ``change`` applied
    (``recipes.apply_changes``: a model keyword, a TrainConfig field, ...). Raises
    ValueError naming an unknown notebook or change and what is valid."""
    if notebook not in STEP_RECIPES:
        raise ValueError(f"notebook={notebook!r} has no recipe; valid: {', '.join(STEP_RECIPES)}")
    return apply_changes(STEP_RECIPES[notebook], change or {})


def slice_teacher(recipe: Recipe, train: MNISTSplit, val: MNISTSplit, epochs: int) -> torch.Tensor | None:
    """The logits on ``train``'s images of the recipe's teacher (``config.teacher``),
    trained on the same slice for ``epochs`` (kept in a temp folder, never in
    ``runs/teachers/``): (len(train), 10) on ``train``'s device; None for a recipe
    without a teacher. Prints the teacher's final validation accuracy."""
    if not recipe.config.teacher:
        return None
    model, trained = train_teacher(recipe.config.teacher, train, val, cache_dir=quick_dir("exercise_teachers"),
                                   log=None, num_epochs=epochs)
    print(f"teacher {recipe.config.teacher}: {trained['params']:,} parameters, trained on {len(train):,} images "
          f"for {epochs} epoch{'' if epochs == 1 else 's'} in {trained['seconds']:.0f} s; final validation accuracy "
          f"{trained['final_val_acc']:.2f}%")
    return logits_of(model, train)


def train_on_slice(label: str, recipe: Recipe, train: MNISTSplit, val: MNISTSplit, epochs: int = SLICE_EPOCHS,
                   seed: int = 1, teacher_logits: torch.Tensor | None = None) -> dict:
    """Train ``recipe``'s model from ``seed`` on ``train`` for ``epochs`` (its schedule
    fitted to them), printing one line per epoch under ``label``; the test set is not
    used. Returns {label, params, val_acc (final epoch, percent), val_images, seconds,
    history}. Raises ValueError for a recipe with a teacher but no ``teacher_logits``."""
    if recipe.config.teacher and teacher_logits is None:
        raise ValueError(f"{label}: the recipe learns from teacher {recipe.config.teacher!r}; pass its "
                         f"teacher_logits (slice_teacher) or change teacher to ''")
    recipe = apply_changes(recipe, {"num_epochs": epochs})
    model = build_model(recipe.model, seed=seed, **recipe.model_kwargs)
    print(f"{label}: {count_params(model):,} parameters")
    start = time.perf_counter()
    history = fit(model, train, None, replace(recipe.config, seed=seed), log=lambda line: print(f"  {line}"),
                  val=val, teacher_logits=teacher_logits, augment=recipe.augment, extras=recipe.extras)
    return {"label": label, "params": count_params(model), "val_acc": history[-1]["val_acc"],
            "val_images": len(val), "seconds": round(time.perf_counter() - start, 1), "history": history}


def noise_band(a: dict, b: dict) -> float:
    """Twice the binomial standard deviation, in points, of the difference between two
    runs' validation accuracies (each a proportion of ``val_images``): a difference
    inside it is one that these two runs cannot tell from chance."""
    var = sum(r["val_acc"] / 100 * (1 - r["val_acc"] / 100) / r["val_images"] for r in (a, b))
    return 200 * math.sqrt(var)


def check_prediction(prediction: str | None, base: dict, changed: dict) -> str:
    """Print both runs (parameters, final validation accuracy, seconds), the difference
    with its noise band (:func:`noise_band`), and whether ``prediction`` ("higher",
    "lower" or "same": the changed run's accuracy against the base's; None: not made)
    holds. Returns the measured outcome, one of ``PREDICTIONS``. Raises ValueError for
    another prediction."""
    if prediction is not None and prediction not in PREDICTIONS:
        raise ValueError(f"prediction={prediction!r} is invalid; write one of {', '.join(map(repr, PREDICTIONS))} "
                         f"(or None)")
    width = max(len(r["label"]) for r in (base, changed))
    for r in (base, changed):
        print(f"{r['label']:<{width}}  {r['params']:>7,} parameters, final validation accuracy {r['val_acc']:.2f}% "
              f"({r['seconds']:.0f} s)")
    diff, band = changed["val_acc"] - base["val_acc"], noise_band(base, changed)
    outcome = "same" if abs(diff) <= band else ("higher" if diff > 0 else "lower")
    print(f"difference {diff:+.2f} points; two binomial std of a difference on {base['val_images']:,} validation "
          f"images: {band:.2f} points, so the changed run measured {outcome!r} (one seed on a slice: a hint, "
          f"not a measurement)")
    if prediction is None:
        print("No prediction was written: write one in the cell above and run the notebook again.")
    else:
        print(f"Your prediction {prediction!r}: {'right' if prediction == outcome else 'not what was measured'}.")
    return outcome
