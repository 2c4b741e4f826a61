"""Ablations trained and shown: one decision at a time, measured on the validation split.

An ablation (its definition: :mod:`mnist_course.experiments.ablation_plans`) trains its base row and
each row that changes one thing on the course's fixed validation split (55,000
training / 5,000 validation images, ``data.validation_split``) for the step's epochs,
over several seeds, and compares final-epoch **validation** accuracies. The test set
is not loaded: ablations choose designs, and choices are made on validation only.

    record = run_ablation("04_capacity", seeds=[1, 2, 3], train=train_55k, val=val_5k,
                          cache_dir=runs_dir() / "ablations")   # a name of ABLATIONS
    print(format_ablation_table(record))
    print(decide(record, ABLATIONS["04_capacity-lr"].rule)["text"])   # for one with a rule

Every (row, seed) run is cached as its own JSON file (atomic), keyed by the row's
settings and the split sizes, so an interrupted ablation continues where it stopped and
adding a row trains only the new one. Who records in ``reports/ablations/``: the course
command (``python -m mnist_course --ablations``); a record names the commit and
the code fingerprint it was made with (records older than that field lack them).

Statistics: per row the mean and sample std over seeds (``results.aggregate``); the
difference from the base is given with its standard error sqrt(s_a^2 / n_a + s_b^2 / n_b)
(Welch). With 5,000 validation images one image is 0.02 points, and the binomial noise
of one run at 99.4% is about 0.11 points, so differences below ~0.1 point over 3 seeds
are not resolved; the tables say so.

A record keeps its name under the key "study", from before the word was kept for
Optuna's studies; the functions here take it as ``name``.
"""

from __future__ import annotations

import inspect
import json
import math
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..engine.data import MNISTSplit, course_validation_split
from ..engine.models import BUILDERS, VARIANTS, count_params, get_model
from ..engine.paths import (
    atomic_write_text,
    cached_run,
    cached_run_path,
    code_fingerprint,
    git_commit,
    quick_dir,
    recorded_reports_dir,
    run_key,
)
from ..engine.plots import save_figure
from ..engine.results import LAST_EPOCHS, aggregate, format_mean_std
from ..engine.settings import RunSettings
from ..engine.training import (
    changed_fields,
    config_dict,
    config_from_record,
    fit,
    flat_config,
    piece_dict,
    set_seed,
)
from .ablation_plans import ABLATIONS, SEEDS, Variant, decide
from .distill import logits_for, train_teacher
from .recipes import Recipe, apply_changes


def _settings(recipe: Recipe, train: MNISTSplit, val: MNISTSplit, fold: int = 0) -> dict:
    """What a cached run must match to be reused (``paths.run_key``: with the device type,
    torch and the code). The config lists the TrainConfig fields that differ from their
    defaults, so adding a field (at a default that keeps today's behaviour) keeps a
    run's key; the recipe's augment and extras (:func:`_pieces`) and the validation fold
    are named only when the recipe has them and when it is not the course's (0)."""
    return run_key({"model": recipe.model, "model_kwargs": recipe.model_kwargs,
                    "config": changed_fields(recipe.config), "train_images": len(train), "val_images": len(val)}
                   | _pieces(recipe) | ({"val_fold": fold} if fold else {}), train.X.device.type)


def _pieces(recipe: Recipe) -> dict:
    """{"augment": ..., "extras": ...} as plain dicts, each only where the recipe has it
    (not None, not at its defaults)."""
    return {k: piece_dict(v) for k, v in (("augment", recipe.augment), ("extras", recipe.extras))
            if v is not None and v != type(v)()}


def train_variant(recipe: Recipe, seed: int, train: MNISTSplit, val: MNISTSplit, log=None) -> dict:
    """Train ``recipe`` once with ``seed`` (initial weights, data order, augmentation) on
    ``train``, evaluating ``val`` after every epoch (no test set). Returns {seed,
    final_val_acc, last3_min_val_acc, final_val_loss (nats per image), params, seconds,
    history}; accuracies in percent."""
    teacher_logits = logits_for(recipe.config, train, val)  # before the seed: a teacher has its own
    set_seed(seed)
    model = get_model(recipe.model, **recipe.model_kwargs)
    start = time.perf_counter()
    history = fit(model, train, None, replace(recipe.config, seed=seed), log=log, val=val,
                  teacher_logits=teacher_logits, augment=recipe.augment, extras=recipe.extras)
    return {"seed": seed, "final_val_acc": history[-1]["val_acc"],
            "last3_min_val_acc": min(row["val_acc"] for row in history[-LAST_EPOCHS:]),
            "final_val_loss": history[-1]["val_loss"], "params": count_params(model),
            "seconds": round(time.perf_counter() - start, 1), "history": history}


def select_variants(name: str, names: list[str] | None) -> list[Variant]:
    """The variants of ``ABLATIONS[name]`` named in ``names`` (all when None), in the
    order listed there. Raises ValueError naming an unknown ablation or variant and the valid ones."""
    if name not in ABLATIONS:
        raise ValueError(f"ablation={name!r} is unknown; valid: {', '.join(ABLATIONS)}")
    listed = ABLATIONS[name].variants
    if names is None:
        return list(listed)
    unknown = [n for n in names if n not in {v.name for v in listed}]
    if unknown:
        raise ValueError(f"variants {unknown} are not in the ablation {name}; valid: "
                         f"{', '.join(repr(v.name) for v in listed)}")
    return [v for v in listed if v.name in names]


def run_ablation(name: str, seeds: list[int], train: MNISTSplit, val: MNISTSplit, cache_dir: Path,
                 variants: list[Variant] | None = None, log=print, num_epochs: int | None = None,
                 save_to: str | Path | None = None) -> dict:
    """Train the base of ``ABLATIONS[name]`` and each variant once per seed; return its record.

    train, val: the ablation's validation fold, ``data.course_validation_split(training
    images, quick, ABLATIONS[name].val_fold)`` (runs are cached under that fold).
    variants: default all of the ablation's; num_epochs: overrides the recipe's (quick
    checks). Runs found in ``cache_dir`` with the same settings are reused. ``log`` gets
    one line per finished run. Returns {"study", "notebook", "about", "seeds",
    "train_images", "val_images", "base": {name, model, model_kwargs, config, and augment
    and extras where it has them}, "rows": [one per variant, the base first: name,
    changes, why, params, final_val_acc (aggregate),
    last3_min_val_acc (aggregate), final_val_loss (aggregate), seconds_per_epoch (mean),
    diff (mean difference from the base, points) and diff_se (its standard error, None
    with one seed), runs]}. save_to: a folder where :func:`save_ablation` writes the record
    after every finished row. Raises ValueError for an unknown ablation or change.
    """
    if name not in ABLATIONS:
        raise ValueError(f"ablation={name!r} is unknown; valid: {', '.join(ABLATIONS)}")
    spec = ABLATIONS[name]
    recipe = spec.start()
    if num_epochs is not None:
        recipe = apply_changes(recipe, {"num_epochs": num_epochs})
    variants = [Variant(spec.base_name, {}, "the base every row is compared with")] + list(
        spec.variants if variants is None else variants)
    rows, teachers = [], {}
    for variant in variants:
        changed = apply_changes(recipe, variant.changes)
        settings = _settings(changed, train, val, spec.val_fold)
        runs = []
        for seed in seeds:
            # Cached per (settings, seed), keyed by what was trained and not by the variant's
            # name, so a run is reused when a later recipe adopts a variant's change.
            run, trained = cached_run(Path(cache_dir) / spec.notebook, settings, seed,
                                      lambda changed=changed, seed=seed: train_variant(changed, seed, train, val))
            if trained and log is not None:
                log(f"{name} / {variant.name} / seed {seed}: final validation accuracy "
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
        teacher = changed.config.teacher
        if teacher and teacher not in teachers:  # once per ablation: the record loads and hashes the images
            teachers[teacher] = _teacher_record(teacher, train, val)
        result = _record(name, recipe, seeds, train, val, rows) | ({"teachers": dict(teachers)} if teachers else {})
        if save_to is not None:  # after every row, so an interrupted ablation shows what it has
            save_ablation(result, save_to)
    return result


def _record(name: str, base: Recipe, seeds: list[int], train: MNISTSplit, val: MNISTSplit,
           rows: list[dict]) -> dict:
    """The dict of :func:`run_ablation` from its rows (the base first): adds each row's
    difference from the base and its standard error."""
    first = rows[0]["final_val_acc"]
    for row in rows:
        acc = row["final_val_acc"]
        row["diff"] = acc["mean"] - first["mean"]
        row["diff_se"] = (math.sqrt(acc["std"] ** 2 / acc["n"] + first["std"] ** 2 / first["n"])
                          if acc["std"] is not None and first["std"] is not None else None)
    spec = ABLATIONS[name]
    return {"study": name, "notebook": spec.notebook, "about": spec.about, "seeds": list(seeds),
            "commit": git_commit(), "code": code_fingerprint(), "torch": torch.__version__,
            "device": train.X.device.type,
            "train_images": len(train), "val_images": len(val), "val_fold": spec.val_fold,
            "base": {"name": spec.base_name, "model": base.model, "model_kwargs": base.model_kwargs,
                     "config": {k: v for k, v in config_dict(base.config).items() if k != "seed"}, **_pieces(base)},
            "rows": rows}


def _teacher_record(name: str, train: MNISTSplit, val: MNISTSplit) -> dict:
    """{params, train_images, seconds, final_val_acc} of the teacher ``name`` (distill.py)
    as trained on the ablation's training images (loaded from its cache): what a distilled
    row cost beside its own epochs, and how good its teacher was."""
    _, record = train_teacher(name, train, val, log=None)
    return {k: record[k] for k in ("params", "train_images", "seconds", "final_val_acc")}


def _changes_text(changes: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "(none)"


def format_training_fit(record: dict) -> str:
    """One line per row of a record (:func:`run_ablation`'s dict or its recorded JSON): the
    training accuracy of the last epoch, mean ± std over seeds, beside the final
    validation accuracy. The training accuracy is counted over that epoch's batches as
    they were trained on (augmented unless the row's ``clean_last_epochs`` covers the
    last epoch): how well a row fits what it trains on, e.g. whether a stronger
    augmentation leaves a small model fitting less."""
    lines = []
    for row in record["rows"]:
        fit_acc = aggregate([run["history"][-1]["train_acc"] for run in row["runs"]])
        lines.append(f"{row['name']}: training accuracy in the last epoch {format_mean_std(fit_acc, unit='%')}, "
                     f"final validation accuracy {format_mean_std(row['final_val_acc'], unit='%')}")
    return "\n".join(lines)


def format_ablation_table(record: dict) -> str:
    """The record as a text table: variant, change, parameters, final validation accuracy
    mean ± std (n), each seed's final validation accuracy (a mean can hide one seed that
    failed), lowest of the last 3 epochs (mean), difference from the recipe ± its
    standard error (points), seconds per epoch."""
    name = max([len("variant")] + [len(row["name"]) for row in record["rows"]])  # column widths that fit
    change = max([len("change")] + [len(_changes_text(row["changes"])) for row in record["rows"]])
    per_seed = {row["name"]: " ".join(f"{r['final_val_acc']:.2f}" for r in row["runs"]) for row in record["rows"]}
    seeds = max([len("per seed (%)")] + [len(text) for text in per_seed.values()])
    fold = record.get("val_fold", 0)  # ablations recorded before folds existed validated on fold 0
    where = f" (images {fold * record['val_images']:,}-{(fold + 1) * record['val_images'] - 1:,}, fold {fold})" \
        if fold else ""
    lines = [f"{record['study']}: {record['about'] or 'one change per row'}; {record['train_images']:,} training / "
             f"{record['val_images']:,} validation images{where}, seeds {record['seeds']}",
             f"{'variant':<{name}} {'change':<{change}} {'params':>7} {'final val acc':>24} "
             f"{'per seed (%)':<{seeds}} {'min last 3':>11} {'diff (points)':>15} {'s/epoch':>8}"]
    for row in record["rows"]:
        diff = "–" if row is record["rows"][0] else (
            f"{row['diff']:+.2f}" + (f" ± {row['diff_se']:.2f}" if row["diff_se"] is not None else ""))
        lines.append(f"{row['name']:<{name}} {_changes_text(row['changes']):<{change}} {row['params']:>7,} "
                     f"{format_mean_std(row['final_val_acc'], unit='%'):>24} {per_seed[row['name']]:<{seeds}} "
                     f"{row['last3_min_val_acc']['mean']:>10.2f}% {diff:>15} {row['seconds_per_epoch']:>8.1f}")
    for name, t in record.get("teachers", {}).items():  # what a distilled row cost beside its own epochs
        lines.append(f"teacher {name}: {t['params']:,} parameters, trained once on the same {t['train_images']:,} "
                     f"images in {t['seconds']:.0f} s; final validation accuracy "
                     + ("–" if t["final_val_acc"] is None else f"{t['final_val_acc']:.2f}%"))
    return "\n".join(lines)


def plot_ablation(record: dict, path: str | Path | None = None):
    """Final validation accuracy per variant: the mean with a ±1 std bar and each seed's
    value as a dot, the base row's mean as a dashed line (named in the legend, so it is
    not read as the goal). The axis fits the rows within 5 points of the best mean; a
    row or seed far below (a network that failed to train) is drawn as a triangle on the
    axis's floor with its value written beside it. Saved as PNG at ``path`` if given.
    Returns the figure."""
    rows = record["rows"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 3.6))
    best = max(row["final_val_acc"]["mean"] for row in rows)
    near = [v for row in rows if row["final_val_acc"]["mean"] >= best - 5
            for v in (row["final_val_acc"]["mean"] - (row["final_val_acc"]["std"] or 0),
                      min(row["final_val_acc"]["mean"] + (row["final_val_acc"]["std"] or 0), 100.0))]
    near += [r["final_val_acc"] for row in rows for r in row["runs"] if r["final_val_acc"] >= best - 5]
    margin = 0.08 * (max(near) - min(near)) + 0.02
    floor, top = min(near) - margin, min(max(near) + margin, 100.0)
    for i, row in enumerate(rows):
        acc = row["final_val_acc"]
        color = "C0" if i else "C1"
        if acc["mean"] >= floor:
            ax.errorbar(i, acc["mean"], yerr=acc["std"] or 0, fmt="o", color=color, capsize=4)
        below = [r["final_val_acc"] for r in row["runs"] if r["final_val_acc"] < floor]
        ax.plot([i] * (len(row["runs"]) - len(below)), [r["final_val_acc"] for r in row["runs"]
                                                        if r["final_val_acc"] >= floor], ".", color="gray")
        if below:  # off the axis: one triangle on the floor, the values beside it
            ax.plot(i, floor, "v", color="gray")
            ax.annotate(f"{len(below)} below: {', '.join(f'{v:.1f}%' for v in below)}", (i, floor),
                        textcoords="offset points", xytext=(6, 3), fontsize=7, color="gray")
    base = rows[0]["final_val_acc"]["mean"]
    ax.axhline(base, color="C1", ls="--", lw=1, label=f"{rows[0]['name']} (base): {base:.2f}%")
    ax.set_ylim(floor, top)
    # Names wrapped at ~12 characters, so a dozen rows' labels do not run into each other.
    names = [textwrap.fill(r["name"].replace("/", "/ "), 12, break_long_words=False).replace("/ ", "/")
             for r in rows]  # whole words, or a break after a slash
    ax.set_xticks(range(len(rows)), [f"{name}\n{r['params']:,} params" for name, r in zip(names, rows, strict=True)],
                  fontsize=8)
    # Two title lines: a record of one or two rows is drawn narrow, and its name alone can fill it.
    ax.set_ylabel("final validation accuracy (%)")
    ax.set_title(f"{record['study']}\none change at a time (n = {len(record['seeds'])} seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def save_ablation(record: dict, folder: str | Path) -> Path:
    """Write ``<folder>/<name>.json`` (atomic) and its PNG chart; returns the JSON path."""
    folder = Path(folder)
    path = atomic_write_text(folder / f"{record['study']}.json", json.dumps(record, indent=1) + "\n")
    plt.close(plot_ablation(record, folder / f"{record['study']}.png"))
    return path


def _base_changed(name: str, recorded: dict) -> list[str]:
    """The settings (model keywords, fields of the config and its pieces, named as the flat
    configs of older records name them: ``training.flat_config``) in which a recorded
    ablation's base differs from the base its recipe gives today; [] when it is current."""
    spec = ABLATIONS[name]
    base = spec.start()
    now = {"model": base.model, **base.model_kwargs, **flat_config(base.config, base.augment, base.extras)}
    then = {"model": recorded["base"]["model"], **recorded["base"]["model_kwargs"],
            **flat_config(*config_from_record(recorded["base"]))}
    now.pop("seed"), then.pop("seed")
    builder = BUILDERS[VARIANTS.get(base.model, base.model)]
    defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()
                if p.default is not inspect.Parameter.empty}  # model keywords written out at their defaults
    return sorted(k for k in now.keys() | then.keys() if now.get(k, defaults.get(k)) != then.get(k, defaults.get(k)))


def prime_cache(name: str, recorded: dict, cache_dir: str | Path, train: MNISTSplit, val: MNISTSplit) -> int:
    """Put the runs of a recorded ablation (``reports/ablations/<name>.json``) into the run
    cache of :func:`run_ablation`, so that a fresh clone adding one row to an ablation trains
    that row alone instead of every row again (runs/ is not committed).

    A row is taken only when the record was made with today's code, torch and device
    type (its "code", "torch" and "device"; records older than those fields are never
    taken: one cache policy, ``paths.run_key``), its name and changes are the ablation's today, its base
    is today's (see :func:`_base_changed`), it was validated on the ablation's fold and
    trained on as many training and validation images as ``train`` and ``val``; files
    already in the cache are kept.
    Returns the number of runs written.
    """
    spec = ABLATIONS[name]
    if ((recorded.get("code"), recorded.get("torch"), recorded.get("device"))
            != (code_fingerprint(), torch.__version__, train.X.device.type)):
        return 0
    if _base_changed(name, recorded) or recorded.get("val_fold", 0) != spec.val_fold or \
            (recorded["train_images"], recorded["val_images"]) != (len(train), len(val)):
        return 0
    recipe = spec.start()
    listed = {spec.base_name: {}} | {v.name: v.changes for v in spec.variants}
    written = 0
    for row in recorded["rows"]:
        if listed.get(row["name"]) != row["changes"]:
            continue
        settings = json.loads(json.dumps(_settings(apply_changes(recipe, row["changes"]), train, val,
                                                   spec.val_fold)))
        for run in row["runs"]:
            path = cached_run_path(Path(cache_dir) / spec.notebook, settings, run["seed"])
            if not path.is_file():
                atomic_write_text(path, json.dumps({"settings": settings, "run": run}) + "\n")
                written += 1
    return written


def incomplete(record: dict) -> str:
    """What a record lacks of its ablation's definition ("" when its rows are the base and
    every row listed today, in any order): a record saved mid-way or with --variants is
    shown, never decided."""
    spec = ABLATIONS[record["study"]]
    missing = [v.name for v in spec.variants if v.name not in {row["name"] for row in record["rows"]}]
    return f"rows {', '.join(repr(m) for m in missing)} not recorded" if missing else ""


def decisions_markdown(folder: str | Path | None = None) -> str:
    """A markdown table of every ablation of ``ABLATIONS``: what it asks, its seeds and
    fold, its rule, and the rule's decision computed from its record in ``folder``
    (default ``reports/ablations/``), or "not recorded". For docs/ablations.md
    (``scripts/update_readme.py``)."""
    folder = Path(folder or recorded_reports_dir() / "ablations")
    lines = ["| ablation | what it asks | seeds, fold | rule | computed from the record |", "|---|---|---|---|---|"]
    for name, spec in ABLATIONS.items():
        path = folder / f"{name}.json"
        seeds = spec.seeds or tuple(SEEDS)
        record = json.loads(path.read_text()) if path.is_file() else None
        missing = incomplete(record) if record else ""
        if record is None:
            decision = "not recorded"
        elif missing:
            decision = f"incomplete record: {missing}"
        elif spec.rule is None:
            decision = "a measurement: no rule"
        else:
            d = decide(record, spec.rule)
            se = f" ± {d['se']:.2f}" if d["se"] is not None and spec.rule.metric == "final" else ""
            decision = (f"{d['row']}: {d['gain']:+.2f}{se} points, "
                        + ("**clears the rule**" if d["cleared"] else "does not clear it"))
        lines.append(f"| `{name}` | {spec.question or spec.about} | {seeds[0]}–{seeds[-1]}, fold {spec.val_fold} | "
                     f"{spec.rule.name if spec.rule else '–'} | {decision} |")
    return "\n".join(lines)


def show_ablation(name: str, run: RunSettings, train: MNISTSplit | None = None,
                  recorded_dir: str | Path | None = None) -> dict | None:
    """A step notebook's Ablation section: print the ablation's table, its question, rule and
    decision, and draw its chart.

    A full run shows the ablation recorded by ``python -m mnist_course --ablations``
    in ``recorded_dir`` (default ``reports/ablations/``): an hour of training on a CPU
    is not repeated inside the notebook. In quick mode (``run.quick``) the base row
    alone is trained on the slice ``train`` (first 1/12 as validation, one seed, the
    run's epochs), so that the code path runs under nbval. Returns the record, or None
    (with a message naming the command) when nothing is recorded yet.
    """
    if run.quick:
        if train is None:
            raise ValueError("quick mode trains the base row on the slice: pass train=")
        small_train, small_val = course_validation_split(train, quick=True, fold=ABLATIONS[name].val_fold)
        result = run_ablation(name, run.seeds[:1], small_train, small_val, quick_dir("ablations"),
                              variants=[], log=None, num_epochs=run.epochs)
        print("QUICK MODE: the base row alone, one seed, on a slice (a check of the code, not a measurement)")
    else:
        path = Path(recorded_dir or recorded_reports_dir() / "ablations") / f"{name}.json"
        if not path.is_file():
            print(f"No recorded ablation at {path.name}: record it with "
                  f"`python -m mnist_course --ablations --steps {name}`")
            return None
        result = json.loads(path.read_text())
        print(f"Recorded by the course command (reports/ablations/{path.name}).")
        changed = _base_changed(name, result)
        if changed:
            print(f"NOTE: recorded for an earlier base; it differs from today's in {', '.join(changed)}. "
                  f"Re-record with `python -m mnist_course --ablations --steps {name}`.")
    print(format_ablation_table(result))
    spec = ABLATIONS[name]
    if spec.question:
        print(f"Question: {spec.question}")
    if spec.rule is None:
        print("No rule decides it as a whole: a measurement, or rows decided one at a time (the question says which).")
    elif not run.quick:
        print(f"Rule, fixed before the rows were trained: {spec.rule.text()}")
        missing = incomplete(result)
        print(f"Not decided: the record is incomplete ({missing})." if missing else decide(result, spec.rule)["text"])
    plot_ablation(result)
    plt.show()
    return result
