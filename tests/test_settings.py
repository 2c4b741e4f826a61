"""Notebook parameters: bad values are named; quick mode never writes to reports/."""

import pytest

from mnist_course.data import REPO_ROOT
from mnist_course.settings import QUICK_TRAIN_IMAGES, check_params

GOOD = dict(epochs=15, batch_size=128, lr=0.01, seed=1, device="auto", data_dir=None, quick=False)


@pytest.mark.parametrize("name,value,valid", [
    ("epochs", 0, ">= 1"), ("epochs", "abc", ">= 1"), ("epochs", 2.5, ">= 1"),
    ("batch_size", -5, ">= 1"), ("lr", -1, "> 0"), ("lr", "fast", "> 0"), ("lr", float("nan"), "> 0"),
    ("device", "tpu", "'auto', 'cpu'"), ("device", "cuda:x", "'cuda:N'"), ("seed", "one", "whole number"),
    ("quick", "yes", "True, False or None"),
])
def test_bad_parameter_is_named_with_its_value(name, value, valid):
    with pytest.raises(ValueError) as err:
        check_params(**{**GOOD, name: value})
    assert f"{name}={value!r}" in str(err.value) and valid in str(err.value)


def test_good_parameters_pass_through():
    run = check_params(**GOOD)
    assert (run.epochs, run.batch_size, run.lr, run.quick, run.train_limit) == (15, 128, 0.01, False, None)
    assert run.reports_dir == REPO_ROOT / "reports"


def test_quick_mode_from_the_environment(monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    run = check_params(**{**GOOD, "quick": None})
    assert run.quick and run.epochs == 1 and run.train_limit == QUICK_TRAIN_IMAGES
    assert REPO_ROOT / "reports" not in [run.reports_dir, *run.reports_dir.parents]
    monkeypatch.setenv("MNIST_COURSE_QUICK", "0")
    assert not check_params(**{**GOOD, "quick": None}).quick
    assert check_params(**{**GOOD, "quick": True}).quick  # the parameter wins
