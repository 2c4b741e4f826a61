"""The figures a run is judged by: best epoch, last-3 minimum, mean ± sample std, the goal's bound."""

import math
import statistics

import pytest

from mnist_course.engine.results import (
    aggregate,
    best_epoch,
    format_bound,
    format_hold,
    format_mean_std,
    goal_statistics,
    mean_curve,
    summarize_run,
)

HISTORY = [
    {"epoch": 1, "train_acc": 90.0, "test_acc": 97.0, "val_acc": 96.0},
    {"epoch": 2, "train_acc": 98.5, "test_acc": 99.1, "val_acc": 98.0},
    {"epoch": 3, "train_acc": 99.0, "test_acc": 98.9, "val_acc": 98.0},
    {"epoch": 4, "train_acc": 99.2, "test_acc": 99.1, "val_acc": 97.9},
    {"epoch": 5, "train_acc": 99.3, "test_acc": 99.0, "val_acc": 97.5},
]


def test_best_epoch_is_the_first_with_the_highest_accuracy():
    assert best_epoch(HISTORY, "test")["epoch"] == 2  # 99.1 at epochs 2 and 4: the first
    assert best_epoch(HISTORY, "val")["epoch"] == 2
    with pytest.raises(ValueError, match="without val_acc; valid splits here: train, test"):
        best_epoch([{"epoch": 1, "train_acc": 1.0, "test_acc": 2.0}], "val")
    with pytest.raises(ValueError, match="empty"):
        best_epoch([], "test")


def test_a_run_is_judged_by_its_final_epoch():
    run = summarize_run(HISTORY, seed=7, seconds=12.34)
    assert run["final_test_acc"] == 99.0               # the headline: the last epoch
    assert run["last3_min_test_acc"] == 98.9            # lowest of epochs 3-5
    assert (run["best_test_acc"], run["best_epoch"]) == (99.1, 2)  # optimistic, for comparison
    assert (run["seed"], run["seconds"], run["best_train_acc"]) == (7, 12.3, 99.3)


def test_aggregate_matches_the_statistics_module():
    values = [99.46, 99.52, 99.48, 99.53, 99.50]
    stats = aggregate(values)
    assert stats["mean"] == pytest.approx(statistics.mean(values))
    assert stats["std"] == pytest.approx(statistics.stdev(values))  # sample std (n - 1)
    assert (stats["min"], stats["max"], stats["n"]) == (99.46, 99.53, 5)
    assert aggregate([99.0])["std"] is None
    with pytest.raises(ValueError, match="at least one seed"):
        aggregate([])


def test_mean_plus_minus_std_is_printed_with_n():
    assert format_mean_std(aggregate([99.4, 99.6]), unit="%") == "99.50 ± 0.14% (n = 2)"
    assert format_mean_std(aggregate([99.46])) == "99.46 (n = 1)"


def test_mean_curve_over_seeds():
    runs = [{"history": HISTORY}, {"history": [dict(r, test_acc=r["test_acc"] - 1) for r in HISTORY]}]
    curve = mean_curve(runs, "test_acc")
    assert curve["epoch"] == [1, 2, 3, 4, 5]
    assert curve["mean"][0] == pytest.approx(96.5) and (curve["min"][0], curve["max"][0]) == (96.0, 97.0)


def test_goal_bound_matches_a_direct_computation_on_known_numbers():
    finals = [99.42, 99.60, 99.52, 99.50, 99.46, 99.58, 99.47, 99.43, 99.39, 99.46]
    lows = [99.38, 99.58, 99.48, 99.47, 99.45, 99.50, 99.46, 99.43, 99.33, 99.39]
    stats = goal_statistics(finals, lows)
    mean, s = statistics.mean(finals), statistics.stdev(finals)
    # t(0.95, 9) = 1.8331 from a printed t table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2)
    assert stats["t"] == pytest.approx(1.8331, abs=1e-4)
    assert stats["lower_bound"] == pytest.approx(mean - 1.8331 * s / math.sqrt(10), abs=1e-4)
    assert (stats["n"], stats["mean"], stats["std"]) == (10, pytest.approx(mean), pytest.approx(s))
    # 7 of 10 held (a value at the bar would hold); Wilson 95%, z = 1.95996, written out:
    z, p, n = 1.959964, 0.7, 10
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z
                                                                                          / (4 * n * n))
    assert stats["held"] == 7
    assert (stats["hold_low"], stats["hold_high"]) == (pytest.approx(centre - half, abs=1e-6),
                                                       pytest.approx(centre + half, abs=1e-6))
    assert goal_statistics([99.4, 99.5], [99.4, 99.39])["held"] == 1  # at the bar holds, below does not
    assert format_bound(stats) == f"99.48 ± 0.07% (n = 10), 95% lower bound {stats['lower_bound']:.2f}%"
    assert format_hold(stats).startswith("7 of 10 seeds held 99.4% in each of their last 3 epochs (Wilson 95% "
                                         "interval: 40%-89%)")


def test_goal_bound_widens_with_fewer_seeds_and_is_absent_for_one():
    five = goal_statistics([99.5, 99.4, 99.6, 99.45, 99.55])
    ten = goal_statistics([99.5, 99.4, 99.6, 99.45, 99.55] * 2)
    assert five["mean"] == pytest.approx(ten["mean"]) and five["lower_bound"] < ten["lower_bound"] < ten["mean"]
    one = goal_statistics([99.5], [99.45])
    assert one["lower_bound"] is None and one["t"] is None and one["held"] == 1
    assert format_bound(one) == "99.50% (n = 1), no lower bound (one seed)"
    assert goal_statistics([99.5, 99.6])["held"] is None  # no lows: no hold rate


@pytest.mark.parametrize("finals, lows, confidence, message", [
    ([], None, 0.95, "no final accuracies"), ([99.5, 99.6], [99.4], 0.95, "lows has 1 value"),
    ([99.5, 99.6], [99.4, None], 0.95, "None among them: True"), ([99.5, 99.6], None, 1.0, "confidence=1.0")])
def test_goal_statistics_names_bad_input(finals, lows, confidence, message):
    with pytest.raises(ValueError, match=message):
        goal_statistics(finals, lows, confidence=confidence)
