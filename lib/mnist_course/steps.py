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

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchinfo import summary
from torchinfo.enums import Units

from .data import RAW_FILES, MNISTSplit, load_mnist
from .distill import logits_for, logits_of, train_teacher
from .models import (
    BUILDERS,
    MODELS,
    REFERENCE_MODELS,
    count_params,
    format_layer_table,
    get_model,
    get_reference_model,
    layer_table,
)
from .paths import cached_run, cached_run_path, quick_dir, recorded_reports_dir
from .reporting import build_report, plot_runs, run_selected_on_validation, save_report
from .results import LAST_EPOCHS, aggregate, format_goal_odds, format_mean_std, goal_odds, summarize_run
from .settings import RunSettings
from .training import (
    TrainConfig,
    config_dict,
    device_name,
    evaluate,
    fit,
    format_epoch,
    resolve_device,
    set_seed,
)

TRAIN_IMAGES = RAW_FILES["train-labels-idx1-ubyte"][1]  # 60,000
TEST_IMAGES = RAW_FILES["t10k-labels-idx1-ubyte"][1]     # 10,000

# The course goal, met by Step 4 on every recorded seed, "consistently, not once":
GOAL_MAX_PARAMS = 8_000     # fewer than this many parameters
GOAL_MAX_EPOCHS = 15        # a fixed number of epochs, at most this many
GOAL_MIN_TEST_ACC = 99.4    # percent, on every seed in each of its last LAST_EPOCHS epochs
GOAL_MIN_MEAN_ACC = 99.45   # percent, the final-epoch test accuracy's mean over seeds


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
    or a reference model of ``models.REFERENCE_MODELS``) with torch seeded by ``seed``.
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


# The modules whose code decides a run's numbers: a run cached by train_seeds is reused
# only while all three read as they did when it was trained.
RUN_CODE = ("models.py", "training.py", "data.py")


def code_fingerprint() -> str:
    """The first 12 hex digits of the SHA-256 of the library's ``RUN_CODE`` files: part
    of a cached run's key, so that editing the model, the training loop or the data path
    retrains instead of replaying a run of other code."""
    digest = hashlib.sha256()
    for name in RUN_CODE:
        digest.update((Path(__file__).with_name(name)).read_bytes())
    return digest.hexdigest()[:12]


def seed_run_settings(name: str, train: MNISTSplit, test: MNISTSplit, config: TrainConfig,
                      model_kwargs: dict) -> dict:
    """Everything that determines one seed's run of :func:`train_seeds` but the seed: the
    model and its keywords, the config (without its seed), the numbers of images, the
    device type, the torch version and :func:`code_fingerprint`."""
    return {"model": name, "model_kwargs": model_kwargs,
            "config": {k: v for k, v in config_dict(config).items() if k != "seed"},
            "train_images": len(train), "test_images": len(test), "device": train.X.device.type,
            "torch": torch.__version__, "code": code_fingerprint()}


def train_seeds(name: str, train: MNISTSplit, test: MNISTSplit, config: TrainConfig, seeds: list[int],
                return_models: bool = False, cache_dir: str | Path | None = None,
                teacher_logits: torch.Tensor | None = None, **model_kwargs):
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
    Raises ValueError for cache_dir together with return_models.
    """
    if cache_dir is not None and return_models:
        raise ValueError("cache_dir replays runs without their weights; it cannot be combined with "
                         "return_models=True (pass cache_dir=None)")
    settings = seed_run_settings(name, train, test, config, model_kwargs)
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
            history = fit(model, train, test, replace(config, seed=seed), log=log, teacher_logits=logits)
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


def print_results(report: dict) -> None:
    """The Results table of a report: one row per seed, then the headline over seeds."""
    print(f"Parameters: {report['params']:,}; {report['epochs']} epochs; {len(report['runs'])} seed(s); "
          f"{report['device']}")
    print(f"{'seed':>6} {'final test acc':>15} {'min last 3 epochs':>18} {'best epoch':>11} "
          f"{'best test acc (optimistic)':>27} {'seconds':>8}")
    for r in report["runs"]:
        last3 = "–" if r.get("last3_min_test_acc") is None else f"{r['last3_min_test_acc']:.2f}%"
        best = "–" if r.get("best_test_acc") is None else f"{r['best_test_acc']:.2f}%"
        print(f"{r['seed']:>6} {r['final_test_acc']:>14.2f}% {last3:>18} {r['best_epoch']:>11} "
              f"{best:>27} {r['seconds']:>8.0f}")
    stats = {"mean": report["final_test_acc_mean"], "std": report["final_test_acc_std"],
             "n": len(report["runs"])}
    print(f"Final-epoch test accuracy: {format_mean_std(stats, unit='%')} (mean ± sample std), "
          f"min {report['final_test_acc_min']:.2f}%, max {report['final_test_acc_max']:.2f}%")
    if "min_test_loss" in report:
        print(f"Final-epoch train accuracy {format_mean_std(report['final_train_acc'], unit='%')}; "
              f"train - test gap {format_mean_std(report['train_test_gap'], unit=' points')}")
        print(f"Test loss: lowest {format_mean_std(report['min_test_loss'], 4)}, final "
              f"{format_mean_std(report['final_test_loss'], 4)}; "
              f"{report['seconds_per_epoch']['mean']:.1f} s per epoch")
    print(f"Report: {report['notebook']}.json in "
          + ("a temp folder (quick mode)" if report["quick"] else "this run's reports folder"))


def record(run: RunSettings, *, notebook: str, step: str, model_name: str, model: nn.Module,
           config: TrainConfig, device: torch.device, runs: list[dict] | None = None,
           history: list[dict] | None = None, seconds: float | None = None,
           test_once: float | None = None, extra: dict | None = None, layers: bool | None = None) -> dict:
    """Build the report of this notebook's run, save JSON + curves PNG + summary.md in
    ``run.reports_dir`` and print the Results table. Returns the report dict.

    runs: one dict per seed from :func:`train_seeds`. A single-seed notebook may pass
    ``history`` and ``seconds`` instead (with ``test_once``, the test accuracy measured
    once after selecting weights on validation). extra: more keys for the JSON (e.g.
    "published"). layers: record the model's layer table (shapes, RF, parameters); None:
    for the step models (a model whose top-level layers run in order, such as Step 5's
    searched ``SearchNet``, passes True).
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
                          extra={**info, **(extra or {})})
    save_report(report, run.reports_dir)
    plt.close(plot_runs(runs, f"{notebook}: {model_name}", run.reports_dir / f"{notebook}_curves.png",
                        show_lr=config.schedule != "constant"))
    print_results(report)
    return report


def teach(name: str, run: RunSettings, train: MNISTSplit, test: MNISTSplit) -> tuple[torch.Tensor, dict]:
    """The teacher a run's students learn from: ``name`` (``distill.TEACHERS``) trained on
    ``train``, or loaded from ``runs/teachers/`` where its first training put it (wide57k:
    772 s on the course's 2-core CPU for 60,000 images, 71 s on an H100); prints
    its parameters, training time and test accuracy, measured for the record (the test
    set chooses nothing). Quick runs train it for ``run.epochs`` in a temp folder.

    Returns (logits, record): its logits on ``train``'s images as they are, (N, 10)
    float32 on their device, row i for image i (``train_seeds``'s ``teacher_logits``);
    and the report's "teacher" entry: name, params, train_images, seconds (its training,
    wall-clock), test_acc (percent). Raises ValueError for an unknown name.
    """
    model, trained = train_teacher(name, train, cache_dir=quick_dir("teachers") if run.quick else None,
                                   num_epochs=run.epochs if run.quick else None)
    test_acc = evaluate(model, test)["acc"]
    print(f"teacher {name}: {trained['params']:,} parameters, trained in {trained['seconds']:.0f} s; "
          f"test accuracy {test_acc:.2f}% (for the record: it chooses nothing)")
    return logits_of(model, train), {"name": name, "params": trained["params"],
                                     "train_images": trained["train_images"], "seconds": trained["seconds"],
                                     "test_acc": test_acc}


def compare_recordings(rows: list[tuple[str, str | dict]], folder: str | Path | None = None) -> list[dict]:
    """Print one line per recording: its parameters, final-epoch test accuracy (percent,
    mean ± sample std over seeds) and each seed's lowest test accuracy of the last
    ``LAST_EPOCHS`` epochs (percent). rows: (label, a report dict of :func:`record` or the
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
        stats = {"mean": report["final_test_acc_mean"], "std": report["final_test_acc_std"], "n": len(lows)}
        print(f"{label:<30} {report['params']:>6,} parameters: final test accuracy "
              f"{format_mean_std(stats, unit='%')}; lowest of the last {LAST_EPOCHS} epochs {min(lows):.2f}% "
              f"(seeds {', '.join(f'{x:.2f}' for x in lows)})")
        shown.append(report)
    return shown


def goal_check(report: dict, max_params: int = GOAL_MAX_PARAMS) -> bool:
    """Print and return whether a run meets the course goal: < 8,000 parameters, a fixed
    number of epochs <= 15, on every seed a test accuracy >= 99.4% in each of the last 3
    epochs, and a final-epoch mean over seeds >= 99.45%. max_params: another parameter
    bar (Step 5 judges each searched model against its budget). Raises ValueError for
    runs without per-epoch test figures (weights selected on validation)."""
    lows = {r["seed"]: r["last3_min_test_acc"] for r in report["runs"]}
    if None in lows.values():
        raise ValueError("the goal is judged on the last 3 epochs' test accuracy; these runs have none")
    missed = [seed for seed, low in lows.items() if low < GOAL_MIN_TEST_ACC]
    by = f"; missed by seed{'s' if len(missed) > 1 else ''} {', '.join(map(str, missed))}" if missed else ""
    checks = {
        f"parameters {report['params']:,} < {max_params:,}": report["params"] < max_params,
        f"epochs {report['epochs']} <= {GOAL_MAX_EPOCHS}": report["epochs"] <= GOAL_MAX_EPOCHS,
        f"every seed >= {GOAL_MIN_TEST_ACC}% in each of its last {LAST_EPOCHS} epochs (lowest: "
        f"{min(lows.values()):.2f}%{by})":
            not missed,
        f"final-epoch mean {report['final_test_acc_mean']:.2f}% >= {GOAL_MIN_MEAN_ACC}%":
            report["final_test_acc_mean"] >= GOAL_MIN_MEAN_ACC,
    }
    for text, ok in checks.items():
        print(f"[{'x' if ok else ' '}] {text}")
    met = all(checks.values())
    print(f"Goal met on all {len(lows)} seeds." if met else
          "Goal not met" + (" (quick mode: not expected)." if report["quick"] else "."))
    return met


def runs_with_unseen_seeds(report: dict, folder: str | Path | None = None) -> list[dict]:
    """Every seed trained with the report's recipe: the report's runs and, when ``folder``
    (default ``reports/unseen/``) holds ``<notebook>.json``, a check that trained the same
    model with the same settings on other seeds (issue 8's check on seeds the course was
    not recorded with), that check's runs after them. A quick run, or a check of another
    recipe (TrainConfig fields added since it ran take their defaults), pools nothing."""
    path = Path(folder or recorded_reports_dir() / "unseen") / f"{report['notebook']}.json"
    if report["quick"] or not path.is_file():
        return list(report["runs"])
    check = json.loads(path.read_text())
    same = (not check["quick"] and check["epochs"] == report["epochs"] and check["params"] == report["params"]
            and check["model"] == report["model"] and check.get("train_images") == report.get("train_images")
            and TrainConfig(**{**check["config"], "seed": 1}) == TrainConfig(**{**report["config"], "seed": 1})
            and not set(check["seeds"]) & set(report["seeds"]))
    return list(report["runs"]) + (list(check["runs"]) if same else [])


def goal_odds_text(report: dict, folder: str | Path | None = None) -> str:
    """How often the report's recipe holds the goal's bar on one seed (its lowest test
    accuracy over the last 3 epochs >= ``GOAL_MIN_TEST_ACC``), over every seed trained with
    it (:func:`runs_with_unseen_seeds`), and what that predicts for as many new seeds as
    the report has (``results.goal_odds``), as text; with one seed, a sentence saying so."""
    runs = runs_with_unseen_seeds(report, folder)
    if len(runs) < 2:
        return "one seed: no spread to judge the odds by"
    lows = [r["last3_min_test_acc"] for r in runs]
    header = f"seeds {', '.join(str(r['seed']) for r in runs)}, trained with this recipe on all training images:\n"
    return header + format_goal_odds(goal_odds(lows, GOAL_MIN_TEST_ACC, seeds=len(report["seeds"])))


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
