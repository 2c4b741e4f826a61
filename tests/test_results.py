"""The figures a run is judged by: best epoch, last-3 minimum, mean ± sample std."""

import statistics

import pytest

from mnist_course.results import (
    aggregate,
    best_epoch,
    format_goal_odds,
    format_mean_std,
    goal_odds,
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


def test_goal_odds_counts_the_seeds_that_held_and_fits_a_normal_distribution():
    lows = [99.3, 99.5, 99.5, 99.7]  # mean 99.5, sample std sqrt(0.08 / 3) = 0.1633
    odds = goal_odds(lows, 99.4, seeds=5)
    assert (odds["held"], odds["n"], odds["rate"]) == (3, 4, 0.75)
    assert odds["all_hold"] == pytest.approx(0.75 ** 5)
    assert odds["std"] == pytest.approx(statistics.stdev(lows))
    # normal tables: P(Z > -0.6124) = 0.7299; 0.8 ** (1 / 5) = 0.9564 = P(Z < 1.710)
    assert odds["rate_normal"] == pytest.approx(0.7299, abs=1e-4)
    assert odds["per_seed_needed"] == pytest.approx(0.95635, abs=1e-5)
    assert odds["needed_mean"] == pytest.approx(99.4 + 1.710 * 0.16330, abs=1e-3)
    assert odds["shortfall"] == pytest.approx(odds["needed_mean"] - 99.5)
    # at the needed mean, 5 seeds all hold with the target probability
    at_needed = goal_odds([v - odds["mean"] + odds["needed_mean"] for v in lows], 99.4, seeds=5)
    assert at_needed["rate_normal"] ** 5 == pytest.approx(0.8)
    assert at_needed["shortfall"] == pytest.approx(0.0, abs=1e-9)
    assert goal_odds([99.4, 99.4], 99.4, seeds=5)["held"] == 2  # a value at the bar holds
    text = format_goal_odds(odds)
    assert text.startswith("3 of 4 seeds held 99.4%; at that rate 5 new seeds all hold with probability "
                           "0.75^5 = 0.24.")
    assert "a mean of 99.68%, +0.18 points from today's." in text


@pytest.mark.parametrize("lows, seeds, target, message", [
    ([99.5], 5, 0.8, "1 value"), ([99.5, 99.6], 0, 0.8, "seeds=0 is invalid"),
    ([99.5, 99.6], True, 0.8, "seeds=True is invalid"), ([99.5, 99.6], 5, 1.0, "target=1.0 is invalid")])
def test_goal_odds_names_bad_input(lows, seeds, target, message):
    with pytest.raises(ValueError, match=message):
        goal_odds(lows, 99.4, seeds, target)
