"""Stages 2 and 3 of Step 5's search: confirm the best proxy runs, then record the winner.

Stage 2 (:func:`confirm`) trains the top trials of a study (:func:`top_trials`, by
their proxy validation accuracy) for the full 15 epochs over the confirmation seeds on
a validation fold; stage 3 (:func:`retrain`) trains the confirmed winner on all 60,000
training images over the record's seeds and evaluates the 10,000 test images after
every epoch. Every run is cached per (settings, seed) (``paths.cached_run``) and its
weights are kept (:func:`trained_weights`), so an interrupted stage continues and a
recorded winner can be reloaded (:func:`trained_model`).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import replace
from pathlib import Path

import optuna
from torch import nn

from ..engine.checkpoints import WEIGHTS_DIR, load_weights, save_weights
from ..engine.models import Architecture, SearchNet
from ..engine.paths import cached_run, cached_run_path, recorded_reports_dir, run_key, runs_dir, settings_key
from ..engine.results import LAST_EPOCHS, aggregate, summarize_run
from ..engine.training import TrainConfig, changed_fields, config_from_record, fit, set_seed
from .distill import teacher_logits
from .search_space import architecture_of, is_rejected, proxy_value, training_of


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
                 split: str, val_fold: int = 0, *, device: str) -> dict:
    """What determines a run of stage 2 (``split`` "val") or 3 ("test"): the cache key of
    :func:`paths.cached_run` and of :func:`trained_weights`. architecture: the fields of an
    :class:`Architecture` (as stored); config by its fields that differ from
    TrainConfig's defaults (``changed_fields``); the image counts of the two splits; and
    the validation fold (``data.validation_split``) when it is not fold 0; with the
    device type ("cpu", "cuda"), torch and the code (``paths.run_key``)."""
    settings = {"architecture": architecture, "config": changed_fields(config), "train_images": train_images,
                f"{split}_images": evaluated_images}
    return run_key(settings | ({"val_fold": val_fold} if val_fold else {}), device)


def trial_run_settings(trial: optuna.trial.FrozenTrial, num_epochs: int, train, evaluated, split: str,
                  val_fold: int = 0) -> dict:
    """:func:`run_settings` of a trial's design trained for ``num_epochs``."""
    return run_settings(trial.user_attrs["architecture"], training_of(trial, num_epochs), len(train),
                        len(evaluated), split, val_fold, device=train.X.device.type)


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
        settings = trial_run_settings(trial, num_epochs, train, val, "val", val_fold)
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
    settings = trial_run_settings(trial, num_epochs, train, test, "test")
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
    not_trained = sum(1 for t in pruned if is_rejected(t))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = top_trials(study, 1, num_epochs)
    counts = {"trials": len(study.trials), "not_trained": not_trained, "pruned": len(pruned) - not_trained,
              "complete": len(done), "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials),
              "best_val_acc": proxy_value(best[0]) if best else None}
    if num_epochs is not None:
        counts["pruned_last"] = sum(1 for t in pruned if _pruned_after_last_epoch(t, num_epochs))
    return counts


def trained_model(result: dict, seed: int) -> nn.Module:
    """The winner of :func:`search_budget`'s ``result`` as trained with ``seed`` in stage 3
    (its final epoch's weights), in eval mode on the CPU. Raises FileNotFoundError
    if that run's weights are not in the cache (e.g. cached by an older version)."""
    return load_weights(SearchNet(result["architecture"]), result["weights"][seed]).eval()


def recorded_search(budgets: list[int], folder: str | Path | None = None) -> dict[int, dict]:
    """Each budget's recorded search, read from ``reports/05_search-<budget>.json``
    (``folder`` overrides the folder) in the form of :func:`search.search_budget`'s result,
    so Step 5 can show its recording without training: "budget", "counts", "candidates",
    "winner" (the first candidate), "architecture", "config", "runs" (the record's seeds),
    "report" (the whole record) and "weights" ({seed: file} for the committed weights of
    that budget's winner, ``weights/search_<budget>.pt``, where they exist). There is no
    "study": the trials' storage is not part of the record.
    Raises FileNotFoundError naming a budget without a record and the recorded budgets."""
    folder = Path(folder) if folder is not None else recorded_reports_dir()
    recorded = sorted(int(p.stem.split("-")[1]) for p in folder.glob("05_search-*.json"))
    results = {}
    for budget in budgets:
        path = folder / f"05_search-{budget}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no recorded search for budget {budget:,} ({path.name}); recorded budgets: "
                                    f"{', '.join(map(str, recorded)) or 'none'} (or search with replay=False)")
        report = json.loads(path.read_text())
        weights = WEIGHTS_DIR / f"search_{budget}.pt"
        seed = json.loads(weights.with_suffix(".json").read_text())["seed"] if weights.is_file() else None
        config, augment, extras = config_from_record(report)
        if augment is not None or extras is not None:  # a search trains with a TrainConfig alone
            raise ValueError(f"{path.name} records an augment or extras; a search's record has neither")
        results[budget] = {"budget": budget, "counts": report["search"], "candidates": report["candidates"],
                           "winner": report["candidates"][0],
                           "architecture": Architecture(**{k: tuple(v) if isinstance(v, list) else v
                                                           for k, v in report["architecture"].items()}),
                           "config": config, "runs": report["runs"], "report": report,
                           "weights": {seed: weights} if seed is not None else {}}
    return results
