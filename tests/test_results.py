"""The figures a run is judged by: best epoch, last-3 minimum, mean ± sample std."""

import statistics

import pytest

from mnist_course.results import aggregate, best_epoch, format_mean_std, mean_curve, summarize_run

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
