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
from statistics import NormalDist

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


def goal_odds(lows: list[float], threshold: float, seeds: int, target: float = 0.8) -> dict:
    """How often a recipe holds a bar on one seed, and what that predicts for ``seeds`` new ones.

    lows: one figure per seed trained with the recipe (e.g. its lowest test accuracy over
    the last 3 epochs, percent); threshold: the bar (a value equal to it holds). Counted:
    "held" seeds, n, rate = held / n, and all_hold = rate ** seeds, the chance that
    ``seeds`` new seeds all hold if each does so independently at that rate. Fitted (a
    normal distribution of ``lows``, with their mean and sample std): rate_normal, the
    probability one seed holds (1 or 0 when all values are equal), and needed_mean, the
    mean that at the same std lets ``seeds`` new seeds all hold with probability
    ``target`` (each with target ** (1 / seeds)); shortfall = needed_mean - mean
    (points; <= 0: no shortfall).
    Raises ValueError for fewer than 2 values, seeds < 1 or a target outside (0, 1).
    """
    if len(lows) < 2:
        raise ValueError(f"{len(lows)} value(s) given; a spread needs at least 2 seeds")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds={seeds!r} is invalid; use a whole number >= 1")
    if not 0 < target < 1:
        raise ValueError(f"target={target!r} is invalid; use a probability strictly between 0 and 1")
    stats = aggregate(lows)
    held = sum(v >= threshold for v in lows)
    rate = held / len(lows)
    per_seed = target ** (1 / seeds)
    needed = threshold + NormalDist().inv_cdf(per_seed) * stats["std"]
    return {"threshold": threshold, "seeds": seeds, "target": target, "held": held, "n": len(lows),
            "rate": rate, "all_hold": rate ** seeds, "mean": stats["mean"], "std": stats["std"],
            "rate_normal": 1 - NormalDist(stats["mean"], stats["std"]).cdf(threshold) if stats["std"] else
            float(stats["mean"] >= threshold),
            "per_seed_needed": per_seed, "needed_mean": needed, "shortfall": needed - stats["mean"]}


def format_goal_odds(odds: dict, what: str = f"lowest test accuracy over the last {LAST_EPOCHS} epochs") -> str:
    """:func:`goal_odds` in three sentences (accuracies in percent, 2 decimals)."""
    return (f"{odds['held']} of {odds['n']} seeds held {odds['threshold']}%; at that rate {odds['seeds']} new seeds "
            f"all hold with probability {odds['rate']:.2f}^{odds['seeds']} = {odds['all_hold']:.2f}.\n"
            f"Their {what}: {odds['mean']:.2f} ± {odds['std']:.2f}% (n = {odds['n']}); a normal "
            f"distribution with that mean and std puts one seed above {odds['threshold']}% with probability "
            f"{odds['rate_normal']:.2f}.\n"
            f"For {odds['seeds']} new seeds to all hold with probability {odds['target']:.2f}, each must with "
            f"{odds['per_seed_needed']:.3f}: at that std, a mean of {odds['needed_mean']:.2f}%, "
            f"{odds['shortfall']:+.2f} points from today's.")
