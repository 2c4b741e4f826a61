"""Step 5's design space and its search with Optuna, under a parameter budget.

The design space generalises the skeleton of Steps 2-4: a block of 3x3 convolutions
(each conv -> ReLU -> BatchNorm) at full resolution, a 2x2 MaxPool, an optional 1x1
transition, a second block whose convolutions end with dropout, and a head: a 3x3
convolution to the 10 class maps then GAP (as in Steps 3-4), or GAP then a 1x1
convolution to the 10 classes (Step 4's design ablation measured the two as equal,
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

    python -m mnist_course.experiments.search --budget 5000 --trials 40            # one worker
    python -m mnist_course.experiments.search --budget 5000 --trials 20 --storage postgresql://...  # on each machine

Sources: Optuna (Akiba et al., KDD 2019, https://optuna.org); successive halving as
in Optuna's ``SuccessiveHalvingPruner`` (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from ..engine.data import FOLDS, course_validation_split, load_mnist
from ..engine.models import SearchNet, architecture_params
from ..engine.paths import REPO_ROOT, quick_dir, runs_dir
from ..engine.settings import list_hint
from ..engine.training import fit, resolve_device, set_seed
from .distill import TEACHERS
from .search_space import (
    DISTILLATION,
    DROPOUTS,
    STEP4_TRAINING,
    WARM_STARTS,
    already_tried,
    architecture_of,
    is_rejected,
    suggest_architecture,
    suggest_training,
    training_of,
    trial_params,
    warm_start_of,
    with_distillation,
)
from .search_stages import (
    confirm,
    retrain,
    study_counts,
    teacher_lookup,
    top_trials,
    trained_weights,
    trial_run_settings,
)


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
            if start is not None and not already_tried(study, start):
                study.enqueue_trial(trial_params(start, STEP4_TRAINING))

        def stop_at_target(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            nonlocal trained_here
            trained_here += not is_rejected(trial)
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
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if not is_rejected(t))


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
    # winner's curse; ablation 05_search-fold1 measured it on the recorded winner).
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
            "weights": {seed: trained_weights(settings.cache_dir, trial_run_settings(winner, num_epochs, full_train,
                                                                                test, "test"), seed)
                        for seed in seeds},
            "study": study}


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
