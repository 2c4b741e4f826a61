"""Notebook parameters: bad values are named; seeds; where a run records."""

import pytest

from mnist_course.engine.paths import REPO_ROOT
from mnist_course.engine.settings import QUICK_SEEDS, QUICK_TRAIN_IMAGES, check_params

GOOD = dict(epochs=15, batch_size=128, lr=0.01, seeds=[1, 2, 3, 4, 5], device="auto", data_dir=None, quick=False)


@pytest.mark.parametrize("name,value,valid", [
    ("epochs", 0, ">= 1"), ("epochs", "abc", ">= 1"), ("epochs", 2.5, ">= 1"),
    ("batch_size", -5, ">= 1"), ("lr", -1, "> 0"), ("lr", "fast", "> 0"), ("lr", float("nan"), "> 0"),
    ("device", "tpu", "'auto', 'cpu'"), ("device", "cuda:x", "'cuda:N'"),
    ("seeds", [], "non-empty list"), ("seeds", [1, 1], "distinct"), ("seeds", 3, "list"),
    ("seeds", ["one"], "whole numbers"), ("seeds", "[1, 2]", '-y "seeds: [1, 2]"'),  # papermill -p gives text
    ("quick", "yes", "True, False or None"),
    ("reports_dir", 5, "folder path"),
])
def test_bad_parameter_is_named_with_its_value(name, value, valid):
    with pytest.raises(ValueError) as err:
        check_params(**{**GOOD, name: value})
    assert f"{name}={value!r}" in str(err.value) and valid in str(err.value)


def test_seed_or_seeds_but_not_both():
    assert check_params(**{**GOOD, "seeds": None, "seed": 4}).seeds == [4]
    with pytest.raises(ValueError, match="seed=.*whole number"):
        check_params(**{**GOOD, "seeds": None, "seed": "one"})
    with pytest.raises(ValueError, match="not both"):
        check_params(**{**GOOD, "seed": 4})
    with pytest.raises(ValueError, match="not neither"):
        check_params(**{**GOOD, "seeds": None})


def test_good_parameters_pass_through_and_record_outside_reports():
    run = check_params(**GOOD)
    assert (run.epochs, run.batch_size, run.lr, run.quick, run.train_limit) == (15, 128, 0.01, False, None)
    assert run.seeds == [1, 2, 3, 4, 5] and run.seed == 1
    assert run.reports_dir == REPO_ROOT / "runs" / "reports"  # never reports/ unless told
    assert "reports go to runs/reports/" in run.describe()
    assert check_params(**{**GOOD, "reports_dir": "elsewhere"}).reports_dir.name == "elsewhere"


def test_quick_mode_from_the_environment(monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    run = check_params(**{**GOOD, "quick": None, "reports_dir": str(REPO_ROOT / "reports")})
    assert run.quick and run.epochs == 1 and run.train_limit == QUICK_TRAIN_IMAGES
    assert run.seeds == GOOD["seeds"][:QUICK_SEEDS] == [1, 2]
    assert REPO_ROOT not in [run.reports_dir, *run.reports_dir.parents]  # quick never records in the repo
    monkeypatch.setenv("MNIST_COURSE_QUICK", "0")
    assert not check_params(**{**GOOD, "quick": None}).quick
    assert check_params(**{**GOOD, "quick": True}).quick  # the parameter wins


def test_a_search_notebook_leaves_batch_size_and_lr_to_the_search():
    run = check_params(**{**GOOD, "batch_size": None, "lr": None})
    assert run.batch_size is None and run.lr is None
    assert "batch_size" not in run.describe() and "lr=" not in run.describe() and "epochs=15" in run.describe()
