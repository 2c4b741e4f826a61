"""Step 5's design space and search: parameter counts before training, budget
rejection without training, and many workers on one Optuna storage."""

import os
import subprocess
import sys

import optuna
import pytest
import torch

import mnist_course.search as search
from mnist_course.data import MNISTSplit
from mnist_course.models import count_params, get_model, layer_table
from mnist_course.search import (
    STEP4,
    Architecture,
    SearchNet,
    architecture_of,
    architecture_params,
    objective,
    retrain,
    top_trials,
)


def test_step4_is_a_point_of_the_space_with_its_7824_parameters():
    assert architecture_params(STEP4) == count_params(get_model("step4")) == 7_824
    assert count_params(SearchNet(STEP4)) == 7_824
    rf = {row["name"]: row["rf"] for row in layer_table(SearchNet(STEP4))}
    assert rf["classes"] == 22  # as Step 4's conv6


@pytest.mark.parametrize("arch", [
    Architecture((8,), 0, (10,), last_padding=0),
    Architecture((4, 8, 12), 6, (8, 8, 10, 12), last_padding=0, dropout=0.1),
    Architecture((10, 14), 8, (12, 16), last_padding=1, dropout=0.05),
])
def test_the_formula_counts_what_the_built_model_has(arch):
    model = SearchNet(arch)
    assert architecture_params(arch) == count_params(model)
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    shapes = {row["name"]: row["shape"] for row in layer_table(model)}
    assert shapes["classes"] == (10, arch.map_size(), arch.map_size())


def test_bad_architectures_name_the_field():
    with pytest.raises(ValueError, match=r"after_pool=\(8, 8, 8, 8, 8\).*1 to 4"):
        Architecture((8,), 0, (8, 8, 8, 8, 8))
    with pytest.raises(ValueError, match="last_padding=2"):
        Architecture((8,), 0, (8,), last_padding=2)
    with pytest.raises(ValueError, match="transition=-1"):
        Architecture((8,), -1, (8,))


def test_a_trial_over_the_budget_is_rejected_without_training(monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("an over-budget trial was trained")

    monkeypatch.setattr(search, "fit", no_training)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda trial: objective(trial, 100, None, None, num_epochs=1), n_trials=5)
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert all(t.user_attrs["params"] >= 100 for t in study.trials)


def test_two_workers_share_one_study_and_lose_no_trial(tmp_path, data_dir):
    journal = tmp_path / "search.journal"
    env = {**os.environ, "MNIST_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "mnist_course.search", "--budget", "4000", "--trials", "3", "--quick",
               "--storage", f"journal:{journal}", "--device", "cpu"]
    workers = [subprocess.Popen(command + ["--seed", str(seed)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="budget-4000", storage=search.open_storage(f"journal:{journal}"))
    assert sorted(t.number for t in study.trials) == list(range(6))  # 3 + 3, none lost or duplicated
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)


def test_the_best_trials_are_retrained_from_what_they_stored(mnist_train, mnist_test):
    train, val = MNISTSplit(mnist_train.X[600:1200], mnist_train.y[600:1200]), \
        MNISTSplit(mnist_train.X[:300], mnist_train.y[:300])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda trial: objective(trial, 6_000, train, val, num_epochs=1), n_trials=6)
    best = top_trials(study, 2)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert best and best[0].value == max(t.value for t in done) and len(best) <= 2
    arch = architecture_of(best[0])
    assert architecture_params(arch) == best[0].user_attrs["params"] < 6_000
    test = MNISTSplit(mnist_test.X[:200], mnist_test.y[:200])
    runs = retrain(best[0], train, test, seeds=[1, 2], num_epochs=1, log=None)
    assert [r["seed"] for r in runs] == [1, 2] and all(r["history"][0]["test_acc"] is not None for r in runs)
