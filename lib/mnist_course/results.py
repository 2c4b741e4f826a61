"""The figures a run is judged by, and how runs over several seeds are combined.

Conventions (one rule each, used everywhere in the course):
- The **headline** of a run is its final epoch's test accuracy: the model after the
  notebook's fixed number of epochs. Nothing is chosen on the test set.
- The **best epoch** on a split is the first epoch with the highest accuracy on it.
  On the validation split it is a legitimate choice (model selection); on the test
  set it is shown only for comparison with courses that report it, labelled optimistic,
  because picking the epoch by its test score overstates what a new digit would get.
- **Last 3 epochs**: the lowest test accuracy over the final three epochs, the
  "consistently, not once" reading of a goal.
- Over seeds: mean and **sample** standard deviation (n - 1 in the denominator), min,
  max, and n. Accuracies are in percent (0-100).
"""

from __future__ import annotations

import math

LAST_EPOCHS = 3  # epochs at the end of a run that a "consistent" goal looks at


def best_epoch(history: list[dict], split: str) -> dict:
    """The row of ``history`` with the highest ``<split>_acc`` (the first if tied).

    split: "val", "test" or "train". Raises ValueError for an empty history or one in
    which some epoch lacks ``<split>_acc``.
    """
    key = f"{split}_acc"
    if not history:
        raise ValueError("history is empty: train for at least one epoch")
    if any(row.get(key) is None for row in history):
        raise ValueError(f"history has epochs without {key}; valid splits here: "
                         f"{', '.join(s for s in ('train', 'val', 'test') if history[0].get(f'{s}_acc') is not None)}")
    return max(history, key=lambda row: (row[key], -row["epoch"]))


def summarize_run(history: list[dict], seed: int, seconds: float) -> dict:
    """The figures of one seed's run: seed, final_test_acc (the headline),
    last3_min_test_acc, best_test_acc and best_epoch (optimistic, on the test set),
    best_train_acc, seconds (wall clock, rounded to 0.1 s) and the history itself.
    Raises ValueError if an epoch has no test accuracy."""
    best = best_epoch(history, "test")
    return {"seed": seed,
            "final_test_acc": history[-1]["test_acc"],
            "last3_min_test_acc": min(row["test_acc"] for row in history[-LAST_EPOCHS:]),
            "best_test_acc": best["test_acc"],
            "best_epoch": best["epoch"],
            "best_train_acc": max(row["train_acc"] for row in history),
            "seconds": round(seconds, 1),
            "history": history}


def aggregate(values: list[float]) -> dict:
    """mean, std (sample standard deviation; None for one value), min, max, n of ``values``.
    Raises ValueError for an empty list."""
    if not values:
        raise ValueError("no values to aggregate: run at least one seed")
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "n": n}


def format_mean_std(stats: dict, decimals: int = 2, unit: str = "") -> str:
    """"99.50 ± 0.03% (n = 5)" (with unit="%") from :func:`aggregate`'s dict; one value
    shows "99.46% (n = 1)"."""
    spread = f" ± {stats['std']:.{decimals}f}" if stats["std"] is not None else ""
    return f"{stats['mean']:.{decimals}f}{spread}{unit} (n = {stats['n']})"


def mean_curve(runs: list[dict], key: str) -> dict:
    """Per-epoch mean, min and max of ``key`` (e.g. "test_acc") over the runs' histories,
    for curves with a band. Returns {"epoch": [...], "mean": [...], "min": [...], "max": [...]}
    over the epochs all runs have; epochs where a run lacks the key are skipped."""
    epochs = min(len(r["history"]) for r in runs)
    out = {"epoch": [], "mean": [], "min": [], "max": []}
    for i in range(epochs):
        values = [r["history"][i].get(key) for r in runs]
        if any(v is None for v in values):
            continue
        out["epoch"].append(runs[0]["history"][i]["epoch"])
        out["mean"].append(sum(values) / len(values))
        out["min"].append(min(values))
        out["max"].append(max(values))
    return out
