"""Step 5's design space and its search with Optuna, under a parameter budget.

The design space generalises the skeleton of Steps 2-4: a block of 3x3 convolutions
(each conv -> ReLU -> BatchNorm) at full resolution, a 2x2 MaxPool, an optional 1x1
transition, a second block whose convolutions end with dropout, a 3x3 convolution to
the 10 class maps and GAP. An :class:`Architecture` fixes every width; its parameter
count is a closed formula (:func:`architecture_params`), so a sample over the budget
is rejected before any weight exists. Step 4 is one point of the space
(``STEP4``, 7,824 parameters; tests/test_search.py checks both against the model).

The search (:func:`run_search`) is an Optuna study per budget: each trial samples an
architecture and the training knobs, is pruned at once when over the budget, and is
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
import sys
import time
from dataclasses import asdict, dataclass, replace

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from torch import nn

from .data import IMAGE_SIZE, load_mnist, validation_split
from .models import conv_bn
from .paths import runs_dir
from .results import summarize_run
from .training import TrainConfig, fit, resolve_device, set_seed

CLASSES = 10
WIDTHS = (4, 6, 8, 10, 12, 14, 16, 20, 24)  # channels a searched 3x3 convolution may have
TRANSITIONS = (0, 6, 8, 10, 12)             # 1x1 transition widths; 0 = no transition


@dataclass(frozen=True)
class Architecture:
    """One point of the design space (all widths are output channels).

    before_pool: the 3x3 convolutions at full resolution, 1-3 of them (the MaxPool
    follows at RF 3, 5 or 7); transition: width of the 1x1 convolution after the pool,
    0 for none; after_pool: the 3x3 convolutions after the pool, 1-4; last_padding:
    padding of the 3x3 class-map convolution (0 or 1); dropout: fraction of activations
    zeroed after each convolution of the second block. Raises ValueError naming a bad
    field and what is valid, including a stack whose maps shrink below 1 pixel.
    """

    before_pool: tuple[int, ...]
    transition: int
    after_pool: tuple[int, ...]
    last_padding: int = 1
    dropout: float = 0.0

    def __post_init__(self):
        for name, convs, most in (("before_pool", self.before_pool, 3), ("after_pool", self.after_pool, 4)):
            if not (1 <= len(convs) <= most and all(isinstance(c, int) and c >= 1 for c in convs)):
                raise ValueError(f"{name}={convs!r} is invalid; use 1 to {most} positive channel counts")
        if not (isinstance(self.transition, int) and self.transition >= 0):
            raise ValueError(f"transition={self.transition!r} is invalid; use 0 (none) or a positive width")
        if self.last_padding not in (0, 1):
            raise ValueError(f"last_padding={self.last_padding!r} is invalid; valid: 0, 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout!r} is invalid; use a fraction in [0, 1)")
        if self.map_size() < 1:
            raise ValueError(f"{self} shrinks the map below 1 pixel before GAP; use fewer convolutions "
                             f"or last_padding=1")

    def map_size(self) -> int:
        """Side of the class maps that GAP averages (pixels): each unpadded 3x3 conv
        takes 2, the MaxPool halves (rounding down)."""
        size = (IMAGE_SIZE - 2 * len(self.before_pool)) // 2 - 2 * len(self.after_pool)
        return size - 2 + 2 * self.last_padding


def architecture_params(arch: Architecture) -> int:
    """Trainable parameters of ``SearchNet(arch)``, computed without building it: a 3x3
    conv (no bias) has 9 * C_in * C_out weights and its BatchNorm 2 * C_out; the 1x1
    transition C_in * C_out; the class-map conv 9 * C_in * 10."""
    total, channels = 0, 1
    for width in arch.before_pool:
        total, channels = total + 9 * channels * width + 2 * width, width
    if arch.transition:
        total, channels = total + channels * arch.transition, arch.transition
    for width in arch.after_pool:
        total, channels = total + 9 * channels * width + 2 * width, width
    return total + 9 * channels * CLASSES


class SearchNet(nn.Module):
    """The network of an :class:`Architecture`: conv1.. (full resolution) -> pool1 ->
    trans1 (if any) -> further convs -> classes (3x3 to 10 maps) -> gap. Layers are
    registered in the order forward runs them, so ``models.layer_table`` gives each
    one's shape and receptive field. X: (N, 1, 28, 28) -> logits (N, 10)."""

    def __init__(self, arch: Architecture):
        super().__init__()
        channels, index = 1, 0
        for width in arch.before_pool:
            index += 1
            self.add_module(f"conv{index}", conv_bn(channels, width))
            channels = width
        self.pool1 = nn.MaxPool2d(2)
        if arch.transition:
            self.trans1 = nn.Conv2d(channels, arch.transition, 1, bias=False)
            channels = arch.transition
        for width in arch.after_pool:
            index += 1
            self.add_module(f"conv{index}", conv_bn(channels, width, dropout=arch.dropout))
            channels = width
        self.classes = nn.Conv2d(channels, CLASSES, 3, padding=arch.last_padding, bias=False)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):               # (N, 1, 28, 28)
        for layer in self.children():   # ... classes: (N, 10, S, S), gap: (N, 10, 1, 1)
            x = layer(x)
        return x.flatten(1)             # (N, 10) logits


# Step 4 as a point of the space (models.Step4Capacity): a check of the formula and a
# reference for the searched models.
STEP4 = Architecture(before_pool=(8, 16), transition=8, after_pool=(12, 16, 16), last_padding=1, dropout=0.05)


def suggest_architecture(trial: optuna.Trial) -> Architecture:
    """Sample an architecture with the trial's sampler (conditional: each convolution's
    width is sampled only if the convolution exists)."""
    before = trial.suggest_int("convs_before_pool", 1, 3)
    after = trial.suggest_int("convs_after_pool", 1, 4)
    return Architecture(
        before_pool=tuple(trial.suggest_categorical(f"before_{i}", WIDTHS) for i in range(before)),
        transition=trial.suggest_categorical("transition", TRANSITIONS),
        after_pool=tuple(trial.suggest_categorical(f"after_{i}", WIDTHS) for i in range(after)),
        last_padding=trial.suggest_categorical("last_padding", (0, 1)),
        dropout=trial.suggest_categorical("dropout", (0.0, 0.05, 0.1)),
    )


def suggest_training(trial: optuna.Trial, num_epochs: int) -> TrainConfig:
    """Sample the training knobs: peak learning rate of the one-cycle schedule (log
    scale, 0.02-0.3), batch size (64 or 128 images) and rotation (0, 7 or 10 degrees)."""
    return TrainConfig(num_epochs=num_epochs, lr=trial.suggest_float("lr", 0.02, 0.3, log=True),
                       batch_size=trial.suggest_categorical("batch_size", (64, 128)),
                       max_rotation=trial.suggest_categorical("max_rotation", (0.0, 7.0, 10.0)),
                       momentum=0.9, schedule="onecycle")


def objective(trial: optuna.Trial, budget: int, train, val, num_epochs: int, seed: int = 1) -> float:
    """Final-epoch validation accuracy (percent) of the trial's architecture and
    training. Raises optuna.TrialPruned, without training, when the architecture has
    ``budget`` parameters or more, or is not buildable; and after an epoch whose
    validation accuracy the pruner judges too low."""
    try:
        arch = suggest_architecture(trial)
    except ValueError as e:  # e.g. too many convolutions for the map size
        raise optuna.TrialPruned(f"not buildable: {e}") from e
    params = architecture_params(arch)
    trial.set_user_attr("params", params)
    trial.set_user_attr("architecture", asdict(arch))
    config = suggest_training(trial, num_epochs)
    if params >= budget:
        raise optuna.TrialPruned(f"{params:,} parameters >= budget {budget:,}: not trained")
    set_seed(seed)
    model = SearchNet(arch)

    def report(row: dict) -> None:
        trial.report(row["val_acc"], row["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {row['epoch']} at {row['val_acc']:.2f}% validation")

    history = fit(model, train, None, config, log=None, val=val, on_epoch=report)
    return history[-1]["val_acc"]


def architecture_of(trial: optuna.trial.FrozenTrial) -> Architecture:
    """The architecture a finished trial trained (stored in its user attributes)."""
    stored = trial.user_attrs["architecture"]
    return Architecture(**{**stored, "before_pool": tuple(stored["before_pool"]),
                           "after_pool": tuple(stored["after_pool"])})


def training_of(trial: optuna.trial.FrozenTrial, num_epochs: int) -> TrainConfig:
    """The trial's training knobs for a run of ``num_epochs`` epochs (one-cycle, SGD 0.9)."""
    return TrainConfig(num_epochs=num_epochs, lr=trial.params["lr"], batch_size=trial.params["batch_size"],
                       max_rotation=trial.params["max_rotation"], momentum=0.9, schedule="onecycle")


def top_trials(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` completed trials with the highest final validation accuracy, best first,
    one per distinct (architecture, training) pair; ties keep the earlier trial."""
    done = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE),
                  key=lambda t: (-t.value, t.number))
    chosen, seen = [], set()
    for trial in done:
        key = (str(trial.user_attrs["architecture"]), str(sorted(trial.params.items())))
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen[:k]


def retrain(trial: optuna.trial.FrozenTrial, train, test, seeds: list[int], num_epochs: int = 15,
            log=print) -> list[dict]:
    """Train a chosen trial's architecture and knobs in full: on ``train`` (all 60,000
    images for the record) for ``num_epochs``, once per seed, evaluating ``test`` after
    every epoch for the record only (it chose nothing: the trial was chosen on
    validation). Returns one ``results.summarize_run`` dict per seed; ``log`` gets one
    line per seed."""
    runs = []
    for seed in seeds:
        set_seed(seed)
        model = SearchNet(architecture_of(trial))
        start = time.perf_counter()
        history = fit(model, train, test, replace(training_of(trial, num_epochs), seed=seed), log=None)
        runs.append(summarize_run(history, seed, time.perf_counter() - start))
        if log is not None:
            log(f"trial {trial.number}, seed {seed}: final test accuracy {runs[-1]['final_test_acc']:.2f}%, "
                f"lowest of the last 3 epochs {runs[-1]['last3_min_test_acc']:.2f}%, {runs[-1]['seconds']:.0f} s")
    return runs


def default_storage() -> str:
    """SQLite in runs/search/ (git-ignored): a re-run continues the stored studies."""
    folder = runs_dir() / "search"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'search.db'}"


def open_storage(url: str | None):
    """An Optuna storage for ``url``: None -> :func:`default_storage`; ``journal:<file>``
    -> Optuna's journal file storage (append-only, for processes sharing a file
    system); anything else is passed to Optuna (sqlite:///..., postgresql://..., ...)."""
    url = url or default_storage()
    if url.startswith("journal:"):
        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    return url


def run_search(budget: int, n_trials: int, train, val, *, storage: str | None = None, num_epochs: int = 6,
               seed: int | None = None, study_name: str | None = None) -> optuna.Study:
    """Run ``n_trials`` more trials of the study for ``budget`` (created on first use,
    named ``budget-<budget>`` unless ``study_name`` is given) in ``storage``; several
    processes may call this on one storage at once. seed: the sampler's seed (give
    each worker its own, or None). Returns the study."""
    if not (isinstance(budget, int) and budget > 0):
        raise ValueError(f"budget={budget!r} is invalid; use a positive number of parameters")
    study = optuna.create_study(
        study_name=study_name or f"budget-{budget}", storage=open_storage(storage), direction="maximize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1))
    study.optimize(lambda trial: objective(trial, budget, train, val, num_epochs), n_trials=n_trials)
    return study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Step 5: search the design space under a parameter budget "
                                                 "(validation split; the test set is never used).")
    parser.add_argument("--budget", type=int, required=True, help="parameters a model must stay below")
    parser.add_argument("--trials", type=int, default=20, help="trials this worker runs (default 20)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of a proxy run (default 6)")
    parser.add_argument("--storage", help="Optuna storage URL, or journal:<file>; default: SQLite in runs/search/")
    parser.add_argument("--study", help="study name (default budget-<budget>)")
    parser.add_argument("--seed", type=int, help="the sampler's seed (one per worker)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--quick", action="store_true", help="1 epoch on the first 2,000 training images "
                        "(a check of the code, not a search)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    limit, epochs = (2_000, 1) if args.quick else (None, args.epochs)
    full = load_mnist(True, args.data_dir, device, limit=limit)
    train, val = validation_split(full, len(full) // 12) if args.quick else validation_split(full)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = run_search(args.budget, args.trials, train, val, storage=args.storage, num_epochs=epochs,
                       seed=args.seed, study_name=args.study)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"study {study.study_name}: {len(study.trials)} trials ({len(done)} trained to the end)")
    if done:
        best = study.best_trial
        print(f"best: trial {best.number}, {best.value:.2f}% validation, {best.user_attrs['params']:,} parameters, "
              f"{best.params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
