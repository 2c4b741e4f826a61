"""The calls every step notebook makes, so the notebooks stay markdown plus a few lines.

    run = check_params(...)                              # settings.py: validated parameters
    device, train, test = load_data(run)                 # real MNIST on the device
    model = build_model("step4", run.seed)               # seeded, so the init repeats
    params = show_model(model)                           # torchinfo summary + RF table
    runs = train_seeds("step4", train, test, config, run.seeds)   # one run per seed
    report = record(run, ..., runs=runs)                 # Results table, JSON, curves
    goal_check(report)                                   # Step 4: the course goal
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchinfo import summary
from torchinfo.enums import Units

from ..engine.augmentation import Augmentation
from ..engine.data import RAW_FILES, MNISTSplit, load_mnist
from ..engine.models import (
    BUILDERS,
    MODELS,
    count_params,
    format_layer_table,
    get_model,
    layer_table,
)
from ..engine.paths import cached_run, cached_run_path, quick_dir, recorded_reports_dir, run_key
from ..engine.plots import plot_runs
from ..engine.reference_models import REFERENCE_MODELS, get_reference_model
from ..engine.reporting import build_report, run_selected_on_validation, save_report
from ..engine.results import (
    GOAL_MAX_PARAMS,
    GOAL_MIN_TEST_ACC,
    LAST_EPOCHS,
    aggregate,
    format_bound,
    format_hold,
    format_mean_std,
    goal_statistics,
    goal_verdict,
    summarize_run,
)
from ..engine.settings import RunSettings
from ..engine.training import (
    Extras,
    TrainConfig,
    config_dict,
    config_from_record,
    device_name,
    evaluate,
    fit,
    format_epoch,
    piece_dict,
    resolve_device,
    set_seed,
)
from ..experiments.distill import logits_for, logits_of, train_teacher

TRAIN_IMAGES = RAW_FILES["train-labels-idx1-ubyte"][1]  # 60,000
TEST_IMAGES = RAW_FILES["t10k-labels-idx1-ubyte"][1]     # 10,000

# The course goal's constants (GOAL_*) live in results.py beside its rule, goal_statistics.


def load_data(run: RunSettings) -> tuple[torch.device, MNISTSplit, MNISTSplit]:
    """Resolve the device and load both splits onto it; prints what was loaded.

    Returns (device, train split, test split). Raises what ``load_mnist`` and
    ``resolve_device`` raise (missing files, unavailable device).
    """
    device = resolve_device(run.device, verbose=True)
    train = load_mnist(True, run.data_dir, device, limit=run.train_limit)
    test = load_mnist(False, run.data_dir, device, limit=run.test_limit)
    mode = "QUICK MODE (a slice for checking; results are not recorded)" if run.quick else "full data"
    print(f"train X {tuple(train.X.shape)}, test X {tuple(test.X.shape)} on {device_name(device)}; {mode}")
    return device, train, test


def build_model(name: str, seed: int, **kwargs) -> nn.Module:
    """A freshly initialised model ``name`` (a step model, "step1" ... "step4", with its
    keywords; "searched" with an Architecture's fields, as Step 6 trains Step 5's winner;
    or a reference model of ``reference_models.REFERENCE_MODELS``) with torch seeded by ``seed``.
    Raises ValueError naming an unknown model and the valid names."""
    set_seed(seed)
    if name in REFERENCE_MODELS and not kwargs:
        return get_reference_model(name)
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(BUILDERS)} (steps), "
                         f"{', '.join(REFERENCE_MODELS)} (reference set-ups, no keywords)")
    return get_model(name, **kwargs)


def show_model(model: nn.Module, rf_table: bool = True) -> int:
    """Print the torchinfo summary and (with ``rf_table``) the shape / receptive-field
    table; return the parameter count. Runs on the CPU so the output is the same on every
    machine. The RF table needs a model whose top-level layers run in order (the step
    models); models with functional steps in ``forward`` pass ``rf_table=False``."""
    model_cpu = model.to("cpu")
    # The dummy forward pass must not change the run: mode="eval" keeps BatchNorm's
    # running statistics as they are, and fork_rng restores the random stream that
    # torchinfo draws its input from (dropout in training draws from the same stream).
    with torch.random.fork_rng(devices=[]):
        stats = summary(model_cpu, input_size=(1, 1, 28, 28), device="cpu", verbose=0, mode="eval",
                        col_names=("output_size", "num_params"), row_settings=("var_names",))
    # Mult-adds as an exact count: torchinfo 1.8's automatic unit prints as
    # "(Units.MEGABYTES)" on Python >= 3.11, and a count of operations is not bytes.
    stats.formatting.macs_units = Units.NONE
    print(stats)
    if rf_table:
        print()
        print(format_layer_table(layer_table(model_cpu)))
    return count_params(model_cpu)


def _seed_line(r: dict) -> str:
    return (f"seed {r['seed']}: final test accuracy {r['final_test_acc']:.2f}%, lowest of the last "
            f"{LAST_EPOCHS} epochs {r['last3_min_test_acc']:.2f}%, best {r['best_test_acc']:.2f}% "
            f"(epoch {r['best_epoch']}), {r['seconds']:.0f} s")


def seed_run_settings(name: str, train: MNISTSplit, test: MNISTSplit, config: TrainConfig,
                      model_kwargs: dict) -> dict:
    """Everything that determines one seed's run of :func:`train_seeds` but the seed: the
    model and its keywords, the config (without its seed), the numbers of images, the
    device type, the torch version and the code (``paths.run_key``)."""
    return run_key({"model": name, "model_kwargs": model_kwargs,
                    "config": {k: v for k, v in config_dict(config).items() if k != "seed"},
                    "train_images": len(train), "test_images": len(test)}, train.X.device.type)


def train_seeds(name: str, train: MNISTSplit, test: MNISTSplit, config: TrainConfig, seeds: list[int],
                return_models: bool = False, cache_dir: str | Path | None = None,
                teacher_logits: torch.Tensor | None = None, augment=None, extras: Extras | None = None,
                **model_kwargs):
    """Train model ``name`` once per seed and return one ``results.summarize_run`` dict each.

    Each seed gives its own initial weights (``build_model``), data order and
    augmentation stream (``config.seed``). The first seed prints its accuracy before
    training and one line per epoch; every further seed prints one line with its final
    figures. model_kwargs go to the model class (e.g. ``dropout=0.1``).
    return_models: also return the trained models, one per seed with its final epoch's
    weights (nothing chosen on the test set): ``(runs, models)``.
    cache_dir: a folder of finished runs (``RunSettings.runs_cache``; None: train every
    seed), one subfolder per model. A seed whose run is there with the same :func:`seed_run_settings` is replayed
    (its recorded epoch lines and seconds, said so) instead of trained again; a seed
    trained here is written there (:func:`paths.cached_run`). A replayed run is a real
    run of these settings, possibly on another machine of the same device type: where
    training is chaotic (Reference 2's first epoch) another CPU's rounding can take the
    same seed elsewhere, so a retrained seed need not repeat it digit for digit. Refused
    with return_models, which needs the weights.
    teacher_logits: with a config that names a teacher (distill.py), its logits on
    ``train`` (e.g. from a teacher the notebook trained and showed); None: the teacher is
    trained or loaded from ``runs/teachers/`` when a seed first needs it.
    augment, extras: passed to ``fit``: a set-up's own training augmentation (an
    ``augmentation.Augmentation``, or e.g. reference 5's
    ``reference.ShiftScaleRotateBrightnessContrast()``) and a ``training.Extras``; the
    repr of each given (and not at its defaults) is part of the cache key.
    Raises ValueError for cache_dir together with return_models.
    """
    if cache_dir is not None and return_models:
        raise ValueError("cache_dir replays runs without their weights; it cannot be combined with "
                         "return_models=True (pass cache_dir=None)")
    settings = seed_run_settings(name, train, test, config, model_kwargs) | {  # named when not at the defaults
        k: repr(v) for k, v in (("augment", augment), ("extras", extras)) if v not in (None, Augmentation(), Extras())}
    runs, models = [], []
    teacher = {} if teacher_logits is None else {"logits": teacher_logits}

    def logits_of_teacher():  # a config's teacher, trained or loaded when a seed first needs its logits
        if config.teacher and "logits" not in teacher:
            teacher["logits"] = logits_for(config, train)
        return teacher.get("logits")

    for i, seed in enumerate(seeds):
        model = build_model(name, seed, **model_kwargs).to(train.X.device)
        if i == 0:
            before = evaluate(model, test)
            print(f"seed {seed}: before training, test accuracy {before['acc']:.2f}% (chance is 10%)")

        def train_one(model=model, seed=seed, log=print if i == 0 else None):
            logits = logits_of_teacher()  # before the clock: the teacher's cost is stated on its own
            start = time.perf_counter()
            history = fit(model, train, test, replace(config, seed=seed), log=log, teacher_logits=logits,
                          augment=augment, extras=extras)
            return summarize_run(history, seed, time.perf_counter() - start)

        if cache_dir is None:
            run = train_one()
        else:
            folder = Path(cache_dir) / name  # one folder per model, files named by settings and seed
            run, trained = cached_run(folder, settings, seed, train_one)
            if not trained:
                print(f"seed {seed}: replayed from {cached_run_path(folder, settings, seed).name} in the run "
                      f"cache (trained earlier with this model, settings, data, device type, torch and code)")
                if i == 0:
                    for row in run["history"]:
                        print(format_epoch(row, config.num_epochs))
        runs.append(run)
        print(_seed_line(runs[-1]), flush=True)
        if return_models:
            models.append(model)
    return (runs, models) if return_models else runs


def print_results(report: dict, recorded: bool = False) -> None:
    """The Results table of a report: one row per seed, then the headline over seeds.
    recorded: the report is a committed record shown as it is (a replay), not this run's."""
    print(f"Parameters: {report['params']:,}; {report['epochs']} epochs; {len(report['runs'])} seed(s); "
          f"{report['device']}")
    print(f"{'seed':>6} {'final test acc':>15} {'min last 3 epochs':>18} {'best epoch':>11} "
          f"{'best test acc (optimistic)':>27} {'seconds':>8}")
    for r in report["runs"]:
        last3 = "–" if r.get("last3_min_test_acc") is None else f"{r['last3_min_test_acc']:.2f}%"
        best = "–" if r.get("best_test_acc") is None else f"{r['best_test_acc']:.2f}%"
        print(f"{r['seed']:>6} {r['final_test_acc']:>14.2f}% {last3:>18} {r['best_epoch']:>11} "
              f"{best:>27} {r['seconds']:>8.0f}")
    lows = [r.get("last3_min_test_acc") for r in report["runs"]]
    stats = goal_statistics([r["final_test_acc"] for r in report["runs"]], None if None in lows else lows)
    print(f"Final-epoch test accuracy: {format_bound(stats)} (mean ± sample std), "
          f"min {report['final_test_acc_min']:.2f}%, max {report['final_test_acc_max']:.2f}%")
    if stats["held"] is not None:
        print(f"Held the bar: {format_hold(stats)}")
    if "min_test_loss" in report:
        print(f"Final-epoch train accuracy {format_mean_std(report['final_train_acc'], unit='%')}; "
              f"train - test gap {format_mean_std(report['train_test_gap'], unit=' points')}")
        print(f"Test loss: lowest {format_mean_std(report['min_test_loss'], 4)}, final "
              f"{format_mean_std(report['final_test_loss'], 4)}; "
              f"{report['seconds_per_epoch']['mean']:.1f} s per epoch")
    print(f"Report: {report['notebook']}.json in "
          + ("reports/ (the record, shown as it is)" if recorded else
             "a temp folder (quick mode)" if report["quick"] else "this run's reports folder"))


def record(run: RunSettings, *, notebook: str, step: str, model_name: str, model: nn.Module,
           config: TrainConfig, device: torch.device, runs: list[dict] | None = None,
           history: list[dict] | None = None, seconds: float | None = None,
           test_once: float | None = None, extra: dict | None = None, layers: bool | None = None,
           augment=None, extras: Extras | None = None) -> dict:
    """Build the report of this notebook's run, save JSON + curves PNG + summary.md in
    ``run.reports_dir`` and print the Results table. Returns the report dict.

    runs: one dict per seed from :func:`train_seeds`. A single-seed notebook may pass
    ``history`` and ``seconds`` instead (with ``test_once``, the test accuracy measured
    once after selecting weights on validation). extra: more keys for the JSON (e.g.
    "published"). layers: record the model's layer table (shapes, RF, parameters); None:
    for the step models (a model whose top-level layers run in order, such as Step 5's
    searched ``SearchNet``, passes True). augment, extras: what the runs trained with beside
    ``config`` (as ``train_seeds`` got them), recorded beside its "config" as "augment" and
    "extras" (``training.piece_dict``) when given.
    Raises ValueError if neither ``runs`` nor ``history`` is given.
    """
    if (runs is None) == (history is None) or (history is not None and seconds is None):
        raise ValueError("record needs runs=train_seeds(...) or, for one seed, history=fit(...) with its seconds")
    if runs is None:
        runs = [run_selected_on_validation(history, run.seed, seconds, test_once) if test_once is not None
                else summarize_run(history, run.seed, seconds)]
    info = {"train_images": run.train_limit or TRAIN_IMAGES, "test_images": run.test_limit or TEST_IMAGES,
            **derived_figures(runs)}
    if layers or (layers is None and type(model) in MODELS.values()):
        info["layers"] = [{**row, "shape": list(row["shape"])} for row in layer_table(model.to("cpu"))]
    report = build_report(step=step, notebook=notebook, model=model_name, params=count_params(model), runs=runs,
                          quick=run.quick, device=device_name(device), config=config_dict(config),
                          extra={**info, **{k: piece_dict(v) for k, v in (("augment", augment), ("extras", extras))
                                            if v is not None}, **(extra or {})})
    save_report(report, run.reports_dir)
    plt.close(plot_runs(runs, f"{notebook}: {model_name}", run.reports_dir / f"{notebook}_curves.png",
                        show_lr=config.schedule != "constant", goal=GOAL_MIN_TEST_ACC))
    print_results(report)
    beside = beside_the_recording(report)
    if beside:
        print(beside)
    return report


def beside_the_recording(report: dict, folder: str | Path | None = None) -> str | None:
    """One line that places a learner's run beside the recorded one of the same notebook
    (``folder``, default ``reports/``): each of its seeds' final-epoch test accuracy, the
    recorded mean ± std (n) with its min and max, and whether each seed lies in that
    range. A run shorter than the recording whose learning rate followed the recording's
    epoch by epoch (Reference 2's Run All: 2 of the recording's 20 epochs) is placed beside
    the recorded seeds after the same epoch, and the recording's final figure follows.
    None for a quick run (a slice: not comparable), when nothing is recorded, or for the
    recording itself (the same seeds, epochs and training settings)."""
    path = Path(folder or recorded_reports_dir()) / f"{report['notebook']}.json"
    if report["quick"] or not path.is_file():
        return None
    recorded = json.loads(path.read_text())
    if (recorded["seeds"], recorded["epochs"], _training_of(recorded)) == (report["seeds"], report["epochs"],
                                                                           _training_of(report)):
        return None
    final = {"mean": recorded["final_test_acc_mean"], "std": recorded["final_test_acc_std"],
             "n": len(recorded["seeds"])}
    at = _recorded_at_epoch(recorded, report)
    low, high = (recorded["final_test_acc_min"], recorded["final_test_acc_max"]) if at is None else (min(at), max(at))
    yours = "; ".join(f"seed {r['seed']}: {r['final_test_acc']:.2f}% ("
                      + ("within" if low <= r["final_test_acc"] <= high else "outside") + " the recorded range)"
                      for r in report["runs"])
    seeds = ("seeds " if len(recorded["seeds"]) > 1 else "seed ") + _seed_range(recorded["seeds"])
    if at is not None:
        return (f"Your run beside the recording after epoch {report['epochs']} (the recording trained "
                f"{recorded['epochs']} epochs, at the same learning rates up to there): {yours}. Recorded "
                f"{seeds} after epoch {report['epochs']}: {format_mean_std(aggregate(at), unit='%')}, min {low:.2f}%, "
                f"max {high:.2f}%; after epoch {recorded['epochs']}: {format_mean_std(final, unit='%')}.")
    epochs = "" if recorded["epochs"] == report["epochs"] else (
        f" (yours trained {report['epochs']} epochs, the recording {recorded['epochs']})")
    return (f"Your run beside the recording{epochs}: {yours}. Recorded {seeds}: "
            f"{format_mean_std(final, unit='%')}, min {low:.2f}%, max {high:.2f}%.")


def _recorded_at_epoch(recorded: dict, report: dict) -> list[float] | None:
    """The recorded seeds' test accuracy after the last epoch of ``report``'s shorter run,
    or None unless every run of both trained at the same learning rate in each of those
    epochs (the same schedule so far) and the recording kept the per-epoch history."""
    epochs = report["epochs"]
    if epochs >= recorded["epochs"] or _training_of({**recorded, "config": {**recorded["config"], "num_epochs": 1}}) \
            != _training_of({**report, "config": {**report["config"], "num_epochs": 1}}):
        return None
    rates, at = set(), []
    for r in [*recorded["runs"], *report["runs"]]:
        rows = {row["epoch"]: row for row in r.get("history", [])}
        if any(e not in rows or rows[e].get("lr") is None for e in range(1, epochs + 1)):
            return None
        rates.add(tuple(rows[e]["lr"] for e in range(1, epochs + 1)))
        at.append(rows[epochs]["test_acc"])
    return at[:len(recorded["runs"])] if len(rates) == 1 else None


def _training_of(report: dict) -> tuple:
    """What a report trained with, comparable across the record forms (``training.config_from_record``);
    a set-up's own augmentation (not an Augmentation) as recorded."""
    own = report.get("augment") if "type" in (report.get("augment") or {}) else None
    return (*config_from_record({k: v for k, v in report.items() if k != "augment" or own is None}), own)


def _seed_range(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else \
        ", ".join(map(str, seeds))


def teach(name: str, run: RunSettings, train: MNISTSplit, test: MNISTSplit,
          committed: bool = True) -> tuple[torch.Tensor, dict]:
    """The teacher a run's students learn from: ``name`` (``distill.TEACHERS``) trained on
    ``train``, or loaded from ``runs/teachers/`` where its first training put it, or from
    its committed weights (``distill.committed_teacher``; committed=False: trained here
    instead); prints its parameters, training time and test accuracy, measured for the
    record (the test set chooses nothing). Quick runs train it for ``run.epochs`` in a
    temp folder.

    Returns (logits, record): its logits on ``train``'s images as they are, (N, 10)
    float32 on their device, row i for image i (``train_seeds``'s ``teacher_logits``);
    and the report's "teacher" entry: name, params, train_images, seconds (its training,
    wall-clock), test_acc (percent). Raises ValueError for an unknown name.
    """
    model, trained = train_teacher(name, train, cache_dir=quick_dir("teachers") if run.quick else None,
                                   num_epochs=run.epochs if run.quick else None, committed=committed)
    test_acc = evaluate(model, test)["acc"]
    print(f"teacher {name}: {trained['params']:,} parameters, trained in {trained['seconds']:.0f} s; "
          f"test accuracy {test_acc:.2f}% (for the record: it chooses nothing)")
    return logits_of(model, train), {"name": name, "params": trained["params"],
                                     "train_images": trained["train_images"], "seconds": trained["seconds"],
                                     "test_acc": test_acc}


def compare_recordings(rows: list[tuple[str, str | dict]], folder: str | Path | None = None) -> list[dict]:
    """Print one line per recording: its parameters, final-epoch test accuracy (percent,
    mean ± sample std over seeds, and the 95% lower bound of the mean that decides the
    goal), and how many seeds held 99.4% in each of the last ``LAST_EPOCHS`` epochs, with
    the lowest such figure (percent). rows: (label, a report dict of :func:`record` or the
    name of a report in ``folder``, default ``reports/``); a named report that is not there
    is said so and skipped. Returns the reports printed. Raises KeyError for a dict
    without ``runs`` (not a multi-seed report)."""
    shown = []
    for label, report in rows:
        if isinstance(report, str):
            path = Path(folder or recorded_reports_dir()) / f"{report}.json"
            if not path.is_file():
                print(f"{label:<30} not recorded ({path.name} is not in the reports folder)")
                continue
            report = json.loads(path.read_text())
        lows = [r["last3_min_test_acc"] for r in report["runs"]]
        stats = goal_statistics([r["final_test_acc"] for r in report["runs"]], lows)
        print(f"{label:<30} {report['params']:>6,} parameters: final test accuracy {format_bound(stats)}; "
              f"{stats['held']} of {stats['n']} seeds held {GOAL_MIN_TEST_ACC}% in each of the last {LAST_EPOCHS} "
              f"epochs (lowest {min(lows):.2f}%)")
        shown.append(report)
    return shown


def goal_check(report: dict, max_params: int = GOAL_MAX_PARAMS) -> bool:
    """Print and return whether a recorded run meets the course goal (``results``): fewer
    than ``max_params`` parameters (8,000; a searched model's budget), a fixed number of
    epochs <= 15, and a one-sided 95% lower confidence bound of the mean final-epoch test
    accuracy over >= 10 seeds that is >= 99.4%. How many seeds held 99.4% in each of their
    last 3 epochs is printed beside it (k of n, Wilson interval): reported, not gated.

    Returns True (met) or False (not met). A claim over fewer than 10 seeds (a quick run,
    a learner's one-seed run, a 5-seed step) is refused: False, with a line saying so;
    its figures are printed all the same.
    Raises ValueError for runs without per-epoch test figures (weights selected on
    validation): the goal is judged on final-epoch test accuracy."""
    lows = [r["last3_min_test_acc"] for r in report["runs"]]
    if None in lows:
        raise ValueError("the goal is judged on the final epochs' test accuracy; these runs have none "
                         "(their weights were selected on validation)")
    stats = goal_statistics([r["final_test_acc"] for r in report["runs"]], lows)
    verdict = goal_verdict(stats, report["params"], report["epochs"], max_params, quick=report["quick"])
    for ok, text, _ in verdict["checks"]:
        print(f"[{'x' if ok else ' '}] {text}")
    print(f"Final-epoch test accuracy {format_bound(stats)}; reported, not gated: {format_hold(stats)}.")
    print(verdict["text"])
    met = verdict["met"]
    return met


def goal_evidence(report: dict) -> dict:
    """Print what the course goal is decided by, from a report's runs: each seed's
    final-epoch test accuracy and lowest test accuracy over its last 3 epochs (and whether
    it held 99.4% in each), the bound's arithmetic (mean - t * s / sqrt(n)), the hold rate
    with its Wilson interval, and the binomial standard deviation of one run's test
    accuracy at the mean (sqrt(p (1 - p) / test images), points): the measurement noise
    that makes any single seed or epoch a poor judge. Returns ``results.goal_statistics``'s
    dict plus "binomial_std" (points). Raises ValueError for runs without per-epoch test
    figures."""
    runs = report["runs"]
    if any(r.get("last3_min_test_acc") is None for r in runs):
        raise ValueError("goal_evidence needs per-epoch test figures; these runs have none")
    stats = goal_statistics([r["final_test_acc"] for r in runs], [r["last3_min_test_acc"] for r in runs])
    print(f"{'seed':>4} {'final test acc':>15} {'lowest of last ' + str(LAST_EPOCHS) + ' epochs':>22} "
          f"{'held ' + str(GOAL_MIN_TEST_ACC) + '%':>10}")
    for r in runs:
        held = "yes" if r["last3_min_test_acc"] >= GOAL_MIN_TEST_ACC else "no"
        print(f"{r['seed']:>4} {r['final_test_acc']:>14.2f}% {r['last3_min_test_acc']:>21.2f}% {held:>10}")
    images = report.get("test_images", TEST_IMAGES)
    p = stats["mean"] / 100
    binomial = 100 * (p * (1 - p) / images) ** 0.5
    spread = "–" if stats["std"] is None else f"{stats['std']:.2f}"
    print(f"one test image is {100 / images:.2f} points; one run's binomial std at {stats['mean']:.2f}% is "
          f"{binomial:.2f} points; the seeds' std is {spread} points")
    if stats["lower_bound"] is not None:
        print(f"bound: mean {stats['mean']:.3f}% - t(0.95, {stats['n'] - 1}) {stats['t']:.3f} x s {stats['std']:.3f} "
              f"/ sqrt({stats['n']}) = {stats['lower_bound']:.3f}% (bar {GOAL_MIN_TEST_ACC}%)")
    print(f"reported, not gated: {format_hold(stats)}")
    return {**stats, "binomial_std": binomial}


def _train_acc(run: dict) -> float:
    """The training accuracy of the model whose test accuracy is the run's headline: the
    last epoch's, or the validation-selected epoch's."""
    return run.get("selected_train_acc", run["history"][-1]["train_acc"])


def derived_figures(runs: list[dict]) -> dict:
    """Figures the Analyses discuss, each as ``results.aggregate`` over seeds:
    final_train_acc (percent, on the augmented training batches as trained on, of the
    epoch whose model the test measured),
    train_test_gap (final train minus final test accuracy, points: how far the model fits
    the training set beyond what carries over to new digits), min_test_loss and
    final_test_loss (nats per image: a final loss above the lowest one is the sign of
    overfitting) and seconds_per_epoch."""
    losses = [[row["test_loss"] for row in r["history"] if row.get("test_loss") is not None] for r in runs]
    return {
        "final_train_acc": aggregate([_train_acc(r) for r in runs]),
        "train_test_gap": aggregate([_train_acc(r) - r["final_test_acc"] for r in runs]),
        "seconds_per_epoch": aggregate([r["seconds"] / len(r["history"]) for r in runs]),
        **({"min_test_loss": aggregate([min(ls) for ls in losses]),
            "final_test_loss": aggregate([ls[-1] for ls in losses])} if all(losses) else {}),
    }
