"""Ablations: one decision at a time, measured on the validation split.

A step's **recipe** is its model and training settings as data (:data:`RECIPES`); a
**variant** differs from it by named changes, e.g. ``{"dropout": 0.0}`` (a keyword of
the model class) or ``{"max_rotation": 0.0}`` (a field of ``TrainConfig``). An ablation
trains the recipe and each variant on the course's fixed validation split (55,000
training / 5,000 validation images, ``data.validation_split``) for the step's epochs,
over several seeds, and compares final-epoch **validation** accuracies. The test set
is not loaded: ablations choose designs, and choices are made on validation only.

    study = run_ablation("04_capacity", seeds=[1, 2, 3], train=train_55k, val=val_5k,
                         cache_dir=runs_dir() / "ablations")
    print(format_ablation_table(study))

Every (variant, seed) run is cached as its own JSON file (atomic), keyed by the
variant's settings and the split sizes, so an interrupted ablation continues where it
stopped and adding a variant trains only the new one. Who records in ``reports/``: the
course command (``python -m mnist_course.course --ablations``).

Statistics: per variant the mean and sample std over seeds (``results.aggregate``);
the difference from the recipe is given with its standard error
sqrt(s_a^2 / n_a + s_b^2 / n_b) (Welch). With 5,000 validation images one image is
0.02 points, and the binomial noise of one run at 99.4% is about 0.11 points, so
differences below ~0.1 point over 3 seeds are not resolved; the tables say so.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import matplotlib.pyplot as plt
from torch import nn

from .data import MNISTSplit, validation_split
from .models import MODELS, count_params, get_model, layer_table
from .paths import atomic_write_text, quick_dir, recorded_reports_dir
from .reporting import save_figure
from .results import LAST_EPOCHS, aggregate, format_mean_std
from .settings import RunSettings
from .training import TrainConfig, fit, set_seed


@dataclass(frozen=True)
class Recipe:
    """A step's model and training settings, as its notebook uses them."""

    model: str                                        # a key of models.MODELS ("step4")
    config: TrainConfig                               # epochs, batch, lr, schedule, augmentation
    model_kwargs: dict = field(default_factory=dict)  # keywords of the model class (dropout=...)


@dataclass(frozen=True)
class Variant:
    """A named change of a recipe: ``changes`` maps model keywords or TrainConfig fields
    to their new values; ``why`` says what the row tests."""

    name: str
    changes: dict
    why: str = ""


# The step notebooks' recipes: their parameters cells' defaults and the TrainConfig of
# their Training cells (notebooks/0N_*.ipynb), one source for notebooks and ablations.
RECIPES = {
    "01_setup": Recipe("step1", TrainConfig(num_epochs=15, batch_size=128, lr=0.02, momentum=0.9)),
    "02_skeleton": Recipe("step2", TrainConfig(num_epochs=15, batch_size=128, lr=0.02, momentum=0.9)),
    "03_batchnorm": Recipe("step3", TrainConfig(num_epochs=15, batch_size=128, lr=0.05, momentum=0.9)),
    "04_capacity": Recipe("step4", TrainConfig(num_epochs=15, batch_size=128, lr=0.1, momentum=0.9,
                                               schedule="onecycle", max_rotation=7.0),
                          {"dropout": 0.05}),
}

# The variants each step's ablation trains besides its recipe, one change each.
ABLATIONS = {
    "02_skeleton": [
        Variant("fc head", {"head": "fc"}, "Step 1 -> 2: a fully connected layer on the last map instead of GAP"),
    ],
    "03_batchnorm": [
        Variant("no BatchNorm", {"batchnorm": False}, "the same widths without BatchNorm (conv biases instead)"),
        Variant("no BN, lr 0.02", {"batchnorm": False, "lr": 0.02}, "without BatchNorm at Step 2's rate"),
        Variant("lr 0.02", {"lr": 0.02}, "with BatchNorm at Step 2's rate: is the higher rate BatchNorm's gift?"),
    ],
    "04_capacity": [
        Variant("no dropout", {"dropout": 0.0}, "does the 5% dropout after the pool help a model this small?"),
        Variant("no rotation", {"max_rotation": 0.0}, "does the ±7° rotation help?"),
        Variant("batch 64", {"batch_size": 64}, "twice the optimizer steps in the same 15 epochs: does the "
                "model, still improving in its last epochs, gain from them?"),
        Variant("no transition", {"transition": False}, "no 1x1 squeeze to 8 channels: conv3 reads the 16 "
                "pooled channels (16 -> 10), 7,980 parameters"),
        Variant("pool after RF 7", {"pool_after_rf": 7}, "Step 3's MaxPool position, same layers and parameters"),
        Variant("no extra block", {"extra_block": False}, "without conv5, the block the moved pool paid for"),
        Variant("constant lr 0.05", {"schedule": "constant", "lr": 0.05}, "Step 3's constant rate, no one-cycle"),
    ],
}

BASE = "recipe"  # the name of the unchanged recipe's row
SEEDS = [1, 2, 3]  # an ablation's default seeds: 3 runs per variant


def recipe_for_run(notebook: str, run: RunSettings) -> Recipe:
    """The recipe of ``notebook`` with the run's parameters (epochs, batch_size, lr), as
    its Training cell uses it. Raises ValueError for a notebook without a recipe."""
    if notebook not in RECIPES:
        raise ValueError(f"notebook={notebook!r} has no recipe; valid: {', '.join(RECIPES)}")
    return apply_changes(RECIPES[notebook], {"num_epochs": run.epochs, "batch_size": run.batch_size,
                                             "lr": run.lr})


def apply_changes(recipe: Recipe, changes: dict) -> Recipe:
    """The recipe with ``changes`` applied (model keywords first, then TrainConfig fields).

    Raises ValueError naming a change that is neither a keyword of the recipe's model
    class nor a field of TrainConfig, with the valid names.
    """
    model_keys = [p for p in inspect.signature(MODELS[recipe.model]).parameters if p != "self"]
    config_keys = [f.name for f in fields(TrainConfig) if f.name != "seed"]
    model_kwargs, config_changes = dict(recipe.model_kwargs), {}
    for key, value in changes.items():
        if key in model_keys:
            model_kwargs[key] = value
        elif key in config_keys:
            config_changes[key] = value
        else:
            raise ValueError(f"change {key!r} is invalid for {recipe.model}; valid: model keywords "
                             f"{', '.join(model_keys) or '(none)'}; TrainConfig fields {', '.join(config_keys)}")
    return Recipe(recipe.model, replace(recipe.config, **config_changes), model_kwargs)


def _settings(recipe: Recipe, train: MNISTSplit, val: MNISTSplit) -> dict:
    """What a cached run must match to be reused."""
    return {"model": recipe.model, "model_kwargs": recipe.model_kwargs,
            "config": {k: v for k, v in asdict(recipe.config).items() if k != "seed"},
            "train_images": len(train), "val_images": len(val)}


def train_variant(recipe: Recipe, seed: int, train: MNISTSplit, val: MNISTSplit, log=None) -> dict:
    """Train ``recipe`` once with ``seed`` (initial weights, data order, augmentation) on
    ``train``, evaluating ``val`` after every epoch (no test set). Returns {seed,
    final_val_acc, last3_min_val_acc, final_val_loss (nats per image), params, seconds,
    history}; accuracies in percent."""
    set_seed(seed)
    model = get_model(recipe.model, **recipe.model_kwargs)
    start = time.perf_counter()
    history = fit(model, train, None, replace(recipe.config, seed=seed), log=log, val=val)
    return {"seed": seed, "final_val_acc": history[-1]["val_acc"],
            "last3_min_val_acc": min(row["val_acc"] for row in history[-LAST_EPOCHS:]),
            "final_val_loss": history[-1]["val_loss"], "params": count_params(model),
            "seconds": round(time.perf_counter() - start, 1), "history": history}


def _cache_path(cache_dir: Path, notebook: str, settings: dict, seed: int) -> Path:
    """One file per (settings, seed): keyed by what was trained, not by the variant's
    name, so a run is reused when a later recipe adopts a variant's change."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache_dir) / notebook / f"{key}-seed{seed}.json"


def select_variants(notebook: str, names: list[str] | None) -> list[Variant]:
    """The variants of ``ABLATIONS[notebook]`` named in ``names`` (all when None), in the
    order listed there. Raises ValueError naming an unknown variant and the valid ones."""
    listed = ABLATIONS.get(notebook, [])
    if names is None:
        return list(listed)
    unknown = [n for n in names if n not in {v.name for v in listed}]
    if unknown:
        raise ValueError(f"variants {unknown} are not in the ablation of {notebook}; valid: "
                         f"{', '.join(repr(v.name) for v in listed)}")
    return [v for v in listed if v.name in names]


def run_ablation(notebook: str, seeds: list[int], train: MNISTSplit, val: MNISTSplit, cache_dir: Path,
                 variants: list[Variant] | None = None, log=print, num_epochs: int | None = None,
                 save_to: str | Path | None = None) -> dict:
    """Train the recipe of ``notebook`` and each variant once per seed; return the study.

    notebook: a key of :data:`RECIPES` (e.g. "04_capacity"); variants: default
    ``ABLATIONS[notebook]``; num_epochs: overrides the recipe's (quick checks). Runs
    found in ``cache_dir`` with the same settings are reused. ``log`` gets one line per
    finished run. Returns {"notebook", "seeds",
    "train_images", "val_images", "recipe": {model, model_kwargs, config}, "rows": [one
    per variant, the recipe first: name, changes, why, params, final_val_acc (aggregate),
    last3_min_val_acc (aggregate), final_val_loss (aggregate), seconds_per_epoch (mean),
    diff (mean difference from the recipe, points) and diff_se (its standard error, None
    with one seed), runs]}. save_to: a folder where :func:`save_ablation` writes the study
    after every finished row. Raises ValueError for an unknown notebook or change.
    """
    if notebook not in RECIPES:
        raise ValueError(f"notebook={notebook!r} has no recipe; valid: {', '.join(RECIPES)}")
    recipe = RECIPES[notebook]
    if num_epochs is not None:
        recipe = apply_changes(recipe, {"num_epochs": num_epochs})
    variants = [Variant(BASE, {}, "the step as its notebook trains it")] + list(
        ABLATIONS.get(notebook, []) if variants is None else variants)
    rows = []
    for variant in variants:
        changed = apply_changes(recipe, variant.changes)
        settings = _settings(changed, train, val)
        runs = []
        for seed in seeds:
            path = _cache_path(cache_dir, notebook, settings, seed)
            cached = json.loads(path.read_text()) if path.is_file() else None
            if cached and cached.get("settings") == settings:
                run = cached["run"]
            else:
                run = train_variant(changed, seed, train, val)
                atomic_write_text(path, json.dumps({"settings": settings, "run": run}) + "\n")
                if log is not None:
                    log(f"{notebook} / {variant.name} / seed {seed}: final validation accuracy "
                        f"{run['final_val_acc']:.2f}%, lowest of the last {LAST_EPOCHS} epochs "
                        f"{run['last3_min_val_acc']:.2f}%, {run['seconds']:.0f} s")
            runs.append(run)
        rows.append({"name": variant.name, "changes": variant.changes, "why": variant.why,
                     "params": runs[0]["params"],
                     "final_val_acc": aggregate([r["final_val_acc"] for r in runs]),
                     "last3_min_val_acc": aggregate([r["last3_min_val_acc"] for r in runs]),
                     "final_val_loss": aggregate([r["final_val_loss"] for r in runs]),
                     "seconds_per_epoch": sum(r["seconds"] / len(r["history"]) for r in runs) / len(runs),
                     "runs": runs})
        study = _study(notebook, recipe, seeds, train, val, rows)
        if save_to is not None:  # after every row, so an interrupted study shows what it has
            save_ablation(study, save_to)
    return study


def _study(notebook: str, recipe: Recipe, seeds: list[int], train: MNISTSplit, val: MNISTSplit,
           rows: list[dict]) -> dict:
    """The study dict of :func:`run_ablation` from its rows (the recipe's first): adds each
    row's difference from the recipe and its standard error."""
    base = rows[0]["final_val_acc"]
    for row in rows:
        acc = row["final_val_acc"]
        row["diff"] = acc["mean"] - base["mean"]
        row["diff_se"] = (math.sqrt(acc["std"] ** 2 / acc["n"] + base["std"] ** 2 / base["n"])
                          if acc["std"] is not None and base["std"] is not None else None)
    return {"notebook": notebook, "seeds": list(seeds), "train_images": len(train), "val_images": len(val),
            "recipe": {"model": recipe.model, "model_kwargs": recipe.model_kwargs,
                       "config": {k: v for k, v in asdict(recipe.config).items() if k != "seed"}},
            "rows": rows}


def describe_recipe(notebook: str) -> dict:
    """What a "what changed" table compares, computed from the recipe's model and
    TrainConfig: {property: text}. Layers list each named layer with its output
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
    schedule = {"constant": "constant", "onecycle": "one-cycle (peak = lr)",
                "step": f"StepLR ×{config.gamma} every {config.step_size} epochs"}[config.schedule]
    return {
        "layers (output channels)": " → ".join(
            r["name"] if r["name"].startswith(("pool", "gap")) else f"{r['name']} {r['shape'][0]}" for r in rows),
        "parameters": f"{count_params(model):,}",
        "BatchNorm": "yes" if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) else "no",
        "MaxPool after RF": ", ".join(str(rows[i - 1]["rf"]) for i in pools) or "none",
        "RF before GAP": str(rows[names.index("gap") - 1]["rf"]) if "gap" in names else "no GAP (fully connected head)",
        "dropout": ", ".join(sorted({f"{p:g}" for p in dropouts})) or "none",
        "optimizer": f"{config.optimizer.upper()}" + (f", momentum {config.momentum}" if config.optimizer == "sgd"
                                                        else ""),
        "learning rate": f"{config.lr:g}, {schedule}",
        "batch size, epochs": f"{config.batch_size}, {config.num_epochs}",
        "augmentation": f"random rotation ±{config.max_rotation:g}°" if config.max_rotation else "none",
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


def _changes_text(changes: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "(none)"


def format_ablation_table(study: dict) -> str:
    """The study as a text table: variant, change, parameters, final validation accuracy
    mean ± std (n), lowest of the last 3 epochs (mean), difference from the recipe ± its
    standard error (points), seconds per epoch."""
    lines = [f"{study['notebook']}: {study['train_images']:,} training / {study['val_images']:,} validation "
             f"images, seeds {study['seeds']}",
             f"{'variant':<14} {'change':<22} {'params':>7} {'final val acc':>24} {'min last 3':>11} "
             f"{'diff (points)':>15} {'s/epoch':>8}"]
    for row in study["rows"]:
        diff = "–" if row["name"] == BASE else (
            f"{row['diff']:+.2f}" + (f" ± {row['diff_se']:.2f}" if row["diff_se"] is not None else ""))
        lines.append(f"{row['name']:<14} {_changes_text(row['changes']):<22} {row['params']:>7,} "
                     f"{format_mean_std(row['final_val_acc'], unit='%'):>24} "
                     f"{row['last3_min_val_acc']['mean']:>10.2f}% {diff:>15} {row['seconds_per_epoch']:>8.1f}")
    return "\n".join(lines)


def plot_ablation(study: dict, path: str | Path | None = None):
    """Final validation accuracy per variant: the mean with a ±1 std bar and each seed's
    value as a dot, the recipe's mean as a dashed line. Saved as PNG at ``path`` if given.
    Returns the figure."""
    rows = study["rows"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 3.4))
    for i, row in enumerate(rows):
        acc = row["final_val_acc"]
        ax.errorbar(i, acc["mean"], yerr=acc["std"] or 0, fmt="o", color="C0" if i else "C1", capsize=4)
        ax.plot([i] * len(row["runs"]), [r["final_val_acc"] for r in row["runs"]], ".", color="gray")
    ax.axhline(rows[0]["final_val_acc"]["mean"], color="C1", ls="--", lw=1)
    ax.set_xticks(range(len(rows)), [f"{r['name']}\n{r['params']:,} params" for r in rows])
    ax.set(ylabel="final validation accuracy (%)",
           title=f"{study['notebook']}: one change at a time (n = {len(study['seeds'])} seeds)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def save_ablation(study: dict, folder: str | Path) -> Path:
    """Write ``<folder>/<notebook>_ablation.json`` (atomic) and its PNG chart; returns the JSON path."""
    folder = Path(folder)
    path = atomic_write_text(folder / f"{study['notebook']}_ablation.json", json.dumps(study, indent=1) + "\n")
    plt.close(plot_ablation(study, folder / f"{study['notebook']}_ablation.png"))
    return path


def show_ablation(notebook: str, run: RunSettings, train: MNISTSplit | None = None,
                  recorded_dir: str | Path | None = None) -> dict | None:
    """The Ablation section of a step notebook: print the study's table and draw its chart.

    A full run shows the study recorded by ``python -m mnist_course.course --ablations``
    in ``recorded_dir`` (default ``reports/ablations/``): an hour of training on a CPU
    is not repeated inside the notebook. In quick mode (``run.quick``) the recipe
    alone is trained on the slice ``train`` (first 1/12 as validation, one seed, the
    run's epochs), so that the code path runs under nbval. Returns the study, or None
    (with a message naming the command) when nothing is recorded yet.
    """
    if run.quick:
        if train is None:
            raise ValueError("quick mode trains the recipe on the slice: pass train=")
        small_train, small_val = validation_split(train, len(train) // 12)
        study = run_ablation(notebook, run.seeds[:1], small_train, small_val, quick_dir("ablations"),
                             variants=[], log=None, num_epochs=run.epochs)
        print("QUICK MODE: the recipe alone, one seed, on a slice (a check of the code, not a measurement)")
    else:
        path = Path(recorded_dir or recorded_reports_dir() / "ablations") / f"{notebook}_ablation.json"
        if not path.is_file():
            print(f"No recorded ablation at {path.name}: record it with "
                  f"`python -m mnist_course.course --ablations --steps {notebook[:2]}`")
            return None
        study = json.loads(path.read_text())
        print(f"Recorded by the course command (reports/ablations/{path.name}).")
    print(format_ablation_table(study))
    plot_ablation(study)
    plt.show()
    return study
