"""Step 5's design space and search: parameter counts before training, budget
rejection without training, and many workers on one Optuna storage."""

import json
import os
import subprocess
import sys

import optuna
import pytest
import torch

import mnist_course.experiments.search as search
import mnist_course.experiments.search_space as search_space
import mnist_course.experiments.search_stages as search_stages
from mnist_course.engine.data import MNISTSplit
from mnist_course.engine.models import (
    Architecture,
    SearchNet,
    architecture_params,
    count_params,
    get_model,
    layer_table,
)
from mnist_course.engine.paths import recorded_reports_dir
from mnist_course.engine.training import evaluate
from mnist_course.experiments.search import (
    check_search,
    objective,
    run_search,
    search_budget,
    trained_trials,
)
from mnist_course.experiments.search_plots import plot_front, plot_search
from mnist_course.experiments.search_space import (
    STEP4,
    architecture_of,
    format_candidates,
    format_space,
    step4_all_separable,
    step4_narrowed,
    step4_separable,
    training_of,
    trial_params,
    warm_start_of,
)
from mnist_course.experiments.search_stages import (
    confirm,
    recorded_search,
    retrain,
    study_counts,
    top_trials,
    trained_model,
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
    Architecture((8, 12), 0, (12, 16, 16), dropout=0.05, head="gap"),
    Architecture((4,), 6, (6, 8, 8, 10), head="gap"),
    Architecture((8, 16), 0, (24, 24, 24), head="gap", separable="after_pool"),
    Architecture((12, 24), 8, (16, 24), last_padding=1, dropout=0.05, separable="all"),
    Architecture((8,), 6, (12, 12), last_padding=0, separable="all"),
])
def test_the_formula_counts_what_the_built_model_has(arch):
    model = SearchNet(arch)
    assert architecture_params(arch) == count_params(model)
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    rows = layer_table(model)
    if arch.head == "conv":
        assert rows[-2]["name"] == "classes" and rows[-2]["shape"] == (10, arch.map_size(), arch.map_size())
    else:  # the last conv's maps are what GAP averages; the 1x1 maps its averages to the classes
        assert rows[-3]["shape"][1:] == (arch.map_size(), arch.map_size())
        assert [r["name"] for r in rows[-2:]] == ["gap", "classes"] and rows[-1]["shape"] == (10, 1, 1)


def test_a_separable_conv_is_the_3x3_conv_whose_kernel_factorises():
    # Reference: torch's dense 3x3 convolution with the kernel W[o, i] = pointwise[o, i] x
    # depthwise[i], the rank-1-per-pair kernel a depthwise-separable convolution stands for.
    arch = Architecture((8, 16), 0, (24,), head="gap", separable="after_pool")
    model = SearchNet(arch).eval()
    assert isinstance(model.conv2[0], torch.nn.Conv2d) and model.conv2[0].groups == 1  # before the pool: dense
    depthwise, pointwise = model.conv3[0], model.conv3[1]
    assert (depthwise.groups, depthwise.weight.shape, pointwise.weight.shape) == (16, (16, 1, 3, 3), (24, 16, 1, 1))
    x = torch.randn(2, 16, 12, 12)
    dense = torch.nn.functional.conv2d(x, pointwise.weight[:, :, 0, 0, None, None] * depthwise.weight[:, 0][None])
    assert torch.allclose(pointwise(depthwise(x)), dense, atol=1e-5)
    # the same widths dense cost 9 x 16 x 24 weights; separable 9 x 16 + 16 x 24
    dense_arch = Architecture((8, 16), 0, (24,), head="gap")
    assert architecture_params(dense_arch) - architecture_params(arch) == 9 * 16 * 24 - (9 * 16 + 16 * 24)


def test_step4_with_the_gap_head_is_a_point_of_the_space():
    arch = Architecture((8, 16), 8, (12, 16, 16), dropout=0.05, head="gap")
    assert architecture_params(arch) == count_params(get_model("step4", head="gap")) == 6_544


def test_bad_architectures_name_the_field():
    with pytest.raises(ValueError, match=r"after_pool=\(8, 8, 8, 8, 8\).*1 to 4"):
        Architecture((8,), 0, (8, 8, 8, 8, 8))
    with pytest.raises(ValueError, match="separable='yes'.*'after_pool'"):
        Architecture((8,), 0, (8,), separable="yes")
    with pytest.raises(ValueError, match="last_padding=2"):
        Architecture((8,), 0, (8,), last_padding=2)
    with pytest.raises(ValueError, match="head='mlp'.*'conv', 'gap'"):
        Architecture((8,), 0, (8,), head="mlp")
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
    command = [sys.executable, "-m", "mnist_course.experiments.search", "--budget", "4000", "--trials", "3", "--quick",
               "--storage", f"journal:{journal}", "--device", "cpu"]
    workers = [subprocess.Popen(command + ["--seed", str(seed)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="budget-4000", storage=search.open_storage(f"journal:{journal}"))
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))  # none lost or duplicated
    assert trained_trials(study) == 6  # 3 + 3 (samples over the budget are drawn again, not counted)
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)


def test_the_best_trials_are_retrained_from_what_they_stored(mnist_train, mnist_test):
    train, val = MNISTSplit(mnist_train.X[600:1200], mnist_train.y[600:1200]), \
        MNISTSplit(mnist_train.X[:300], mnist_train.y[:300])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda trial: objective(trial, 6_000, train, val, num_epochs=1), n_trials=6)
    best = top_trials(study, 2)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert best and best[0].value == max(t.value for t in done) and len(best) <= 2
    # a run the pruner stopped after its last epoch trained in full: it is ranked, given the epochs
    late = optuna.create_study(direction="maximize")
    for epochs, value, state in ((4, 99.0, "COMPLETE"), (4, 99.2, "PRUNED"), (2, 99.5, "PRUNED")):
        late.add_trial(optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state), value=value if state == "COMPLETE" else None,
            intermediate_values={e: value for e in range(1, epochs + 1)}, params={"lr": value},
            distributions={"lr": optuna.distributions.FloatDistribution(0, 100)},
            user_attrs={"architecture": {"widths": value}}))
    assert [t.number for t in top_trials(late, 3)] == [0]
    assert [t.number for t in top_trials(late, 3, num_epochs=4)] == [1, 0]  # not the one stopped at epoch 2
    assert study_counts(late)["best_val_acc"] == 99.0
    assert {k: study_counts(late, 4)[k] for k in ("pruned", "pruned_last", "best_val_acc")} == {
        "pruned": 2, "pruned_last": 1, "best_val_acc": 99.2}
    arch = architecture_of(best[0])
    assert architecture_params(arch) == best[0].user_attrs["params"] < 6_000
    test = MNISTSplit(mnist_test.X[:200], mnist_test.y[:200])
    runs = retrain(best[0], train, test, seeds=[1, 2], num_epochs=1, log=None)
    assert [r["seed"] for r in runs] == [1, 2] and all(r["history"][0]["test_acc"] is not None for r in runs)


def _slices(mnist_train, mnist_test):
    train = MNISTSplit(mnist_train.X[600:1200], mnist_train.y[600:1200])
    val = MNISTSplit(mnist_train.X[:300], mnist_train.y[:300])
    return train, val, MNISTSplit(mnist_test.X[:200], mnist_test.y[:200])


def test_a_total_of_trials_resumes_a_stored_study_without_adding_more(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])  # no training needed
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    study = run_search(3_000, 4, None, None, storage=storage, num_epochs=1, seed=0, total=True)
    assert trained_trials(study) == 4
    study = run_search(3_000, 6, None, None, storage=storage, num_epochs=1, seed=0, total=True)
    assert trained_trials(study) == 6  # continued to the total: 2 more, not 6
    assert trained_trials(run_search(3_000, 6, None, None, storage=storage, num_epochs=1, total=True)) == 6
    counts = study_counts(study)
    assert counts["trials"] == len(study.trials) and counts["trials"] - counts["not_trained"] == 6
    assert counts["not_trained"] + counts["pruned"] + counts["complete"] == counts["trials"]
    assert "pruned_last" not in counts and study_counts(study, 1)["pruned_last"] <= counts["pruned"]


def test_a_stored_study_is_continued_only_at_its_proxy_length(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])  # no training needed
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    study = run_search(3_000, 2, None, None, storage=storage, num_epochs=4, seed=0, total=True)
    assert study.user_attrs["proxy_epochs"] == 4
    with pytest.raises(ValueError, match=r"num_epochs=6 differs from the 4 epochs .* 'budget-3000'"):
        run_search(3_000, 4, None, None, storage=storage, num_epochs=6, seed=0, total=True)
    assert trained_trials(run_search(3_000, 3, None, None, storage=storage, num_epochs=4, total=True)) == 3


def test_a_trial_interrupted_mid_run_is_trained_again(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])  # no training needed
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    study = run_search(3_000, 3, None, None, storage=storage, num_epochs=1, seed=0, total=True)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # a trial whose worker was killed
    assert trained_trials(study) == 3 and study_counts(study)["failed"] == 1
    study = run_search(3_000, 4, None, None, storage=storage, num_epochs=1, seed=0, total=True)
    assert trained_trials(study) == 4 and study_counts(study)["complete"] == 4  # one more, not one fewer


def test_samples_over_the_budget_do_not_count_as_trials(monkeypatch):
    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])  # no training needed
    study = run_search(3_000, 5, None, None, storage="memory", num_epochs=1, seed=0, warm_start=False, min_share=0)
    rejected = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED and not t.intermediate_values]
    assert rejected and all(t.user_attrs["params"] >= 3_000 for t in rejected)  # this space draws many over 3,000
    assert trained_trials(study) == len(study.trials) - len(rejected) == 5
    with pytest.warns(UserWarning, match="budget 100: 0 of 2 trials trained after 40 samples"):
        assert trained_trials(run_search(100, 2, None, None, storage="memory", num_epochs=1, seed=0)) == 0


def test_samples_under_the_floor_are_rejected_untrained(monkeypatch):
    trained = []
    monkeypatch.setattr(search, "fit", lambda model, *a, **k: trained.append(count_params(model))
                        or [{"epoch": 1, "val_acc": 50.0}])
    study = run_search(5_000, 6, None, None, storage="memory", num_epochs=1, seed=0, warm_start=False)
    assert len(trained) == 6 and all(3_000 <= p < 5_000 for p in trained)  # floor: 60% of the budget
    small = [t for t in study.trials if t.user_attrs.get("params", 5_000) < 3_000]
    assert small and all(t.state == optuna.trial.TrialState.PRUNED and not t.intermediate_values for t in small)
    with pytest.raises(ValueError, match="min_share=1.0 is invalid"):
        run_search(5_000, 1, None, None, storage="memory", min_share=1.0)


def test_a_new_study_starts_from_step4_narrowed_to_its_budget(monkeypatch):
    # At 8,000 the narrowed model is Step 4 with the GAP -> 1x1 head: the design study's 6,544-parameter row.
    assert step4_narrowed(8_000) == Architecture((8, 16), 8, (12, 16, 16), last_padding=0, dropout=0.0, head="gap")
    assert architecture_params(step4_narrowed(8_000)) == count_params(get_model("step4", head="gap")) == 6_544
    sizes = [architecture_params(step4_narrowed(b)) for b in (6_000, 5_000, 4_000, 3_000)]
    assert all(size < budget for size, budget in zip(sizes, (6_000, 5_000, 4_000, 3_000), strict=True))
    assert sizes == sorted(sizes, reverse=True) and step4_narrowed(100) is None

    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])  # no training needed
    study = run_search(5_000, 3, None, None, storage="memory", num_epochs=1, seed=0)
    first = study.trials[0]
    assert architecture_of(first) == step4_narrowed(5_000) and first.user_attrs["params"] == sizes[1]
    assert (first.params["lr"], first.params["batch_size"], first.params["max_rotation"]) == (0.1, 64, 7.0)
    assert first.state == optuna.trial.TrialState.COMPLETE and trained_trials(study) == 3
    second = study.trials[1]  # the second warm start: Step 4 made separable after the pool, widened
    assert architecture_of(second) == step4_separable(5_000) == Architecture(
        (8, 16), 8, (24, 32, 32), last_padding=0, head="gap", separable="after_pool")
    assert second.user_attrs["params"] == 4_456 and second.params["lr"] == 0.1
    third = study.trials[2]  # the third: every conv but the first separable, no transition, widened
    assert architecture_of(third) == step4_all_separable(5_000) == Architecture(
        (16, 32), 0, (24, 32, 32), last_padding=0, head="gap", separable="all")
    assert third.user_attrs["params"] == 4_744 and third.params["batch_size"] == 64
    assert [warm_start_of(t, 5_000) for t in study.trials] == ["narrowed", "separable", "all_separable"]
    cold = run_search(5_000, 1, None, None, storage="memory", num_epochs=1, seed=0, warm_start=False)
    assert architecture_of(cold.trials[0]) != step4_narrowed(5_000)  # sampled, not the narrowed Step 4
    # under 1,500 only the narrowed Step 4 fits: the separable ones are not queued (None), the search goes on
    assert (step4_separable(1_500), step4_all_separable(1_500)) == (None, None)
    small = run_search(1_500, 2, None, None, storage="memory", num_epochs=1, seed=0)
    assert [warm_start_of(t, 1_500) for t in small.trials[:2]] == ["narrowed", None] and trained_trials(small) == 2


def test_a_study_begun_before_separable_convs_gets_those_warm_starts_once(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "fit", lambda *a, **k: [{"epoch": 1, "val_acc": 50.0}])
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    old = run_search(5_000, 2, None, None, storage=storage, num_epochs=1, seed=0, warm_start=False)
    starts = (step4_separable(5_000), step4_all_separable(5_000))
    assert not any(architecture_of(t) in starts for t in old.trials if "architecture" in t.user_attrs)
    study = run_search(5_000, 2, None, None, storage=storage, num_epochs=1, seed=0)  # continued
    assert [architecture_of(t) for t in study.trials[-2:]] == list(starts)
    again = run_search(5_000, 1, None, None, storage=storage, num_epochs=1, seed=0)  # not queued twice
    assert [sum(architecture_of(t) == start for t in again.trials) for start in starts] == [1, 1]
    assert [architecture_params(step4_separable(b)) for b in (6_000, 4_000)] == [5_880, 3_460]
    # the separable widths are coarse (32 -> 40), so 6,000 and 5,000 get the same model
    assert [architecture_params(step4_all_separable(b)) for b in (6_000, 4_000, 3_000)] == [4_744, 3_188, 2_864]


def test_check_search_names_bad_values_and_quick_mode_is_small():
    good = dict(budgets=[6000, 5000], trials=60, search_epochs=6, candidates=3, confirm_seeds=[1, 2, 3])
    with pytest.raises(ValueError, match='-y "budgets: \\[5000\\]"'):  # papermill's -p passes a list as text
        check_search(**{**good, "budgets": "[5000]"})
    for name, bad in (("budgets", []), ("budgets", [5000, 5000]), ("budgets", [0]), ("trials", 0),
                      ("trials", [60]), ("trials", [60, 0]), ("search_epochs", 1.5), ("candidates", True),
                      ("confirm_seeds", [1, 1]), ("storage", 3), ("confirm_fold", -1), ("confirm_fold", 12),
                      ("confirm_fold", True)):
        with pytest.raises(ValueError, match=f"{name}="):
            check_search(**{**good, name: bad})
    full = check_search(**good)
    assert full.budgets == [6000, 5000] and full.storage.startswith("sqlite:///") and "runs/search" in full.storage
    assert [full.trials_for(b) for b in full.budgets] == [60, 60] and "trials=60 " in full.describe()
    per_budget = check_search(**{**good, "trials": [20, 35]})  # one study searched further than another
    assert per_budget.trials_for(5000) == 35 and "trials=[20, 35]" in per_budget.describe()
    with pytest.raises(ValueError, match="budget=4000"):
        per_budget.trials_for(4000)
    quick = check_search(**good, quick=True)
    assert (quick.budgets, quick.trials, quick.search_epochs, quick.candidates, quick.confirm_seeds,
            quick.storage) == ([6000], [4], 1, 1, [1], "memory")
    # stage 2's fold: 0 (the search's own images) unless asked, and named only when it is not 0
    assert full.confirm_fold == 0 and "confirm_fold" not in full.describe()
    on_fold1 = check_search(**good, confirm_fold=1)
    assert on_fold1.confirm_fold == 1 and "confirm_fold=1" in on_fold1.describe()
    assert check_search(**good, confirm_fold=1, quick=True).confirm_fold == 1


def test_confirm_chooses_on_validation_over_seeds_and_caches_its_runs(mnist_train, mnist_test, tmp_path):
    train, val, _ = _slices(mnist_train, mnist_test)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda trial: objective(trial, 6_000, train, val, num_epochs=1), n_trials=8)
    chosen = top_trials(study, 2)
    rows = confirm(chosen, train, val, seeds=[1, 2], num_epochs=1, cache_dir=tmp_path, log=None)
    assert sorted(r["trial"] for r in rows) == sorted(t.number for t in chosen)
    means = [r["final_val_acc"]["mean"] for r in rows]
    assert means == sorted(means, reverse=True)  # best first, by the mean over seeds
    assert all(r["final_val_acc"]["n"] == 2 for r in rows)
    assert all(row["test_acc"] is None for r in rows for run in r["runs"] for row in run["history"])  # no test set
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(files) == 2 * len(chosen)
    again = confirm(chosen, train, val, seeds=[1, 2], num_epochs=1, cache_dir=tmp_path,
                    log=lambda line: pytest.fail(f"trained again: {line}"))
    assert [r["final_val_acc"] for r in again] == [r["final_val_acc"] for r in rows]
    # the same candidates on another fold (as many images) are other runs: cached under their own keys
    other_val = MNISTSplit(mnist_train.X[300:600], mnist_train.y[300:600])
    fold1 = confirm(chosen[:1], train, other_val, seeds=[1], num_epochs=1, cache_dir=tmp_path, log=None, val_fold=1)
    assert len(list(tmp_path.glob("*.json"))) == len(files) + 1
    assert fold1[0]["runs"][0]["history"][-1]["val_acc"] == fold1[0]["final_val_acc"]["mean"]
    noise_line = format_candidates(fold1, val_images=300).splitlines()[-1]
    assert noise_line.startswith("validation noise: 300 images (fold 1),")
    assert f"{rows[0]['trial']:>5}" in format_candidates(rows).splitlines()[1]
    best = {**rows[0], "final_val_acc": {**rows[0]["final_val_acc"], "mean": 99.5}}
    worse = {**rows[0], "final_val_acc": {**rows[0]["final_val_acc"], "mean": 98.0}}
    noise = format_candidates([best, worse], val_images=5_000).splitlines()[-1]  # sqrt(.995 * .005 / 5000)
    assert noise == ("validation noise: 5,000 images, one image = 0.02 points; binomial standard error at "
                     "99.50%: 0.10 points")


def test_search_budget_runs_the_three_stages_and_keeps_the_winners_weights(mnist_train, mnist_test, tmp_path,
                                                                          monkeypatch):
    train, val, test = _slices(mnist_train, mnist_test)
    settings = check_search(budgets=[6000], trials=8, search_epochs=1, candidates=2, confirm_seeds=[1])
    settings = type(settings)(**{**settings.__dict__, "storage": "memory", "cache_dir": tmp_path, "sampler_seed": 0})
    ranked_with = []  # the candidates are ranked knowing the proxy's epochs (runs pruned after the last count)
    monkeypatch.setattr(search, "top_trials", lambda study, k, num_epochs=None: ranked_with.append(num_epochs)
                        or top_trials(study, k, num_epochs))
    result = search_budget(6_000, settings, train, val, train, test, seeds=[1, 2], num_epochs=1, log=None)
    assert ranked_with and set(ranked_with) == {settings.search_epochs}  # the candidates, the counts' best
    counts = result["counts"]
    assert counts["trials"] - counts["not_trained"] == 8 and result["winner"] is result["candidates"][0]
    # the hand-made warm starts (WARM_STARTS: Step 4 narrowed, made separable after the pool, after
    # conv1) are confirmed beside the search's best (2 candidates: 5 rows unless a warm start is
    # among them), and marked
    starts = {r["warm_start"]: r for r in result["candidates"] if r["warm_start"]}
    assert {kind: r["trial"] for kind, r in starts.items()} == {"narrowed": 0, "separable": 1, "all_separable": 2}
    assert starts["narrowed"]["params"] == architecture_params(step4_narrowed(6_000))
    assert starts["separable"]["params"] == architecture_params(step4_separable(6_000))
    assert starts["all_separable"]["params"] == architecture_params(step4_all_separable(6_000))
    assert 3 <= len(result["candidates"]) <= 5
    table = format_candidates(result["candidates"]).splitlines()
    assert table[-3].startswith("* Step 4 narrowed to the budget") and table[-2].startswith("+ Step 4 with separable")
    assert table[-1].startswith("# Step 4 with every convolution but the first separable")
    assert any(line.split()[0] == "1+" and "separable after pool" in line for line in table[1:])
    assert any(line.split()[0] == "2#" and "separable after conv1" in line for line in table[1:])
    assert trained_trials(result["study"]) == 8  # the study itself, for its plots ("memory" keeps no other)
    assert architecture_params(result["architecture"]) == result["winner"]["params"] < 6_000
    assert [r["seed"] for r in result["runs"]] == [1, 2]
    model = trained_model(result, 2)  # the stage-3 model of seed 2, final epoch
    assert evaluate(model, test)["acc"] == pytest.approx(result["runs"][1]["final_test_acc"])
    result["weights"][2].unlink()  # a cached run without its weights is trained again, so its model exists
    again = search_budget(6_000, settings, train, val, train, test, seeds=[1, 2], num_epochs=1, log=None)
    assert [r["final_test_acc"] for r in again["runs"]] == [r["final_test_acc"] for r in result["runs"]]
    assert result["weights"][2].is_file()
    assert result["confirm_fold"] == 0


def test_search_budget_confirms_on_the_fold_it_is_given(mnist_train, mnist_test, tmp_path, monkeypatch):
    """Stage 2 on fold 1: the candidates train and are validated on fold 1 of the full training
    images (data.course_validation_split), not on the search's own split."""
    train, val, test = _slices(mnist_train, mnist_test)
    full_train = MNISTSplit(mnist_train.X[:1200], mnist_train.y[:1200])  # a quick-mode slice: folds of 100
    settings = check_search(budgets=[6000], trials=4, search_epochs=1, candidates=1, confirm_seeds=[1],
                            confirm_fold=1, quick=True)
    settings = type(settings)(**{**settings.__dict__, "cache_dir": tmp_path, "sampler_seed": 0})
    seen = []

    def spy(trials, confirm_train, confirm_val, *args):
        seen.append((confirm_train, confirm_val, args[-1]))
        return confirm(trials, confirm_train, confirm_val, *args)

    monkeypatch.setattr(search, "confirm", spy)
    result = search_budget(6_000, settings, train, val, full_train, test, seeds=[1], num_epochs=1, log=None)
    (confirm_train, confirm_val, fold), = seen
    assert fold == result["confirm_fold"] == 1
    assert torch.equal(confirm_val.X, full_train.X[100:200]) and len(confirm_train) == 1_100
    assert torch.equal(confirm_train.X[:100], full_train.X[:100])  # fold 0's images are trained on


def test_format_space_shows_step4_as_a_point():
    assert "= 7,824 parameters" in format_space()
    assert "depthwise-separable" in format_space() and "48 channels" in format_space()


@pytest.mark.parametrize("arch", [
    Architecture((8, 16), 8, (12, 16, 16), last_padding=0, head="gap"),
    Architecture((8, 16), 0, (24, 32, 32), last_padding=0, head="gap", separable="after_pool"),
    Architecture((12, 24), 0, (32, 32, 32), last_padding=0, head="gap", separable="all", dropout=0.05),
    Architecture((8,), 6, (16, 12), last_padding=1, separable="all"),
])
def test_an_enqueued_point_is_sampled_back_exactly(arch):
    # trial_params must name every width as suggest_architecture does (dense widths as
    # before_<i> / after_<i>, separable ones as <block>_<i>_sep), or enqueue_trial would
    # run a different model than the one asked for.
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(trial_params(arch, {"lr": 0.1, "batch_size": 64, "max_rotation": 7.0}))
    trial = study.ask()
    assert search_space.suggest_architecture(trial) == arch
    assert ("after_0_sep" in trial.params) == (arch.separable != "none") != ("after_0" in trial.params)


def _finished_study(values: list[float]) -> optuna.Study:
    """A study of completed trials with the given final validation accuracies."""
    study = optuna.create_study(study_name="budget-5000", direction="maximize")
    for i, value in enumerate(values):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": 0.05 * (i + 1), "batch_size": 64 * (1 + i % 2)}, value=value,
            distributions={"lr": optuna.distributions.FloatDistribution(0.02, 0.3, log=True),
                           "batch_size": optuna.distributions.CategoricalDistribution((64, 128))},
            user_attrs={"params": 4_000 + 100 * i}))
    return study


def test_the_search_plots_are_saved_beside_the_report(tmp_path):
    figures = plot_search(_finished_study([98.0, 98.5, 99.0]), path=tmp_path / "05_search-5000")
    assert len(figures) == 2
    assert (tmp_path / "05_search-5000_history.png").is_file()
    assert (tmp_path / "05_search-5000_importances.png").is_file()
    assert len(plot_search(_finished_study([98.0]))) == 1  # one trial: no importances to compute


def test_the_front_shows_every_proxy_run_and_each_winner_over_its_seeds(tmp_path):
    result = {"study": _finished_study([98.0, 99.0]), "winner": {"params": 4_100},
              "runs": [{"final_test_acc": 99.3}, {"final_test_acc": 99.5}]}
    fig = plot_front({5000: result}, reference={"params": 7_824, "step": "Step 4", "runs": [{"final_test_acc": 99.5}]},
                     path=tmp_path / "front.png")
    left, right = fig.axes
    assert left.collections[0].get_offsets().tolist() == [[4_000, 98.0], [4_100, 99.0]]
    assert right.lines[0].get_xydata().tolist() == [[4_100, 99.4]]  # the winner's mean over its 2 seeds
    assert (tmp_path / "front.png").is_file()


def test_an_architecture_only_search_trains_every_trial_with_step4s_recipe(monkeypatch):
    trained = []
    monkeypatch.setattr(search, "fit", lambda model, train, test, config, **k: trained.append(config)
                        or [{"epoch": 1, "val_acc": 50.0}])
    study = run_search(5_000, 6, None, None, storage="memory", num_epochs=1, seed=0, architecture_only=True)
    assert study.study_name == "budget-5000-arch" and len(trained) == 6
    assert {(c.lr, c.batch_size, c.max_rotation) for c in trained} == {(0.1, 64, 7.0)}
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len({str(t.user_attrs["architecture"]) for t in done}) > 1  # the layers are still searched
    assert all(architecture_of(t).dropout == 0.0 for t in done)
    assert all(training_of(t, 15).lr == 0.1 for t in done)
    sampled = run_search(5_000, 6, None, None, storage="memory", num_epochs=1, seed=0)
    assert sampled.study_name == "budget-5000" and len({c.lr for c in trained[6:]}) > 1  # knobs sampled
    assert "fixed: Step 4's recipe, one-cycle peak lr 0.1, batch 64, rotation 7 degrees" in format_space(True)
    assert "no dropout" in format_space(True) and "dropout 0, 0.05 or 0.1" in format_space()
    with pytest.raises(ValueError, match="architecture_only='yes' is invalid"):
        check_search(budgets=[5000], trials=2, search_epochs=1, candidates=1, confirm_seeds=[1],
                     architecture_only="yes")


def test_a_search_with_a_teacher_trains_every_stage_with_it(mnist_train, mnist_test, tmp_path, monkeypatch):
    """run_search(teacher=...): every trial, its confirmation and the record learn from the
    teacher (Step 6's distillation), the trials say so, and the study is a study of its own."""
    from dataclasses import replace

    from mnist_course.experiments import distill

    train, val, test = _slices(mnist_train, mnist_test)
    tiny = distill.Teacher(Architecture((4,), 0, (6,), head="gap", last_padding=0),
                           replace(distill.TEACHERS["wide57k"].config, num_epochs=1))
    monkeypatch.setitem(distill.TEACHERS, "tiny", tiny)
    monkeypatch.setattr(distill, "runs_dir", lambda: tmp_path)
    given = []  # (images trained on, teacher logits given) of every run
    real_fit = search.fit
    for module in (search, search_stages):  # the proxy runs (search), confirmation and record (search_stages)
        monkeypatch.setattr(module, "fit", lambda model, X, *a, teacher_logits=None, **k: given.append(
            (len(X), teacher_logits)) or real_fit(model, X, *a, teacher_logits=teacher_logits, **k))
    settings = check_search(budgets=[6000], trials=3, search_epochs=1, candidates=1, confirm_seeds=[1],
                            teacher="tiny")
    settings = type(settings)(**{**settings.__dict__, "storage": "memory", "cache_dir": tmp_path / "runs",
                                 "sampler_seed": 0, "quick": True})  # quick: the teacher trains 1 epoch
    result = search_budget(6_000, settings, train, val, train, test, seeds=[1], num_epochs=1, log=None)
    assert result["study"].study_name == "budget-6000-tiny" and "teacher=tiny" in settings.describe()
    trained = [t for t in result["study"].trials if t.intermediate_values]
    assert trained and all(t.user_attrs["distillation"] == {"teacher": "tiny", **search_space.DISTILLATION}
                           for t in trained)
    assert search_space.DISTILLATION == {"distill_weight": 0.5, "distill_temperature": 4.0}  # Step 6's
    assert result["config"].teacher == "tiny" and result["config"].distill_weight == 0.5
    # the student runs (proxy, confirmation, record) all had the teacher's logits of their own images
    students = given[1:]  # the first fit trained the teacher itself
    assert len(students) >= 3 + 1 + 1 and all(logits is not None and logits.shape == (n, 10)
                                              for n, logits in students)
    assert len(list(tmp_path.glob("teachers/*.pt"))) == 1  # trained once for these training images
    with pytest.raises(ValueError, match=r"teacher='nope' is invalid; use '' \(none\) or one of 'wide57k'"):
        check_search(budgets=[5000], trials=2, search_epochs=1, candidates=1, confirm_seeds=[1], teacher="nope")
    with pytest.raises(ValueError, match="teacher='nope' is unknown"):
        run_search(5_000, 1, None, None, storage="memory", teacher="nope")


@pytest.mark.records
def test_a_replay_reads_each_budgets_record_and_its_committed_weights(mnist_test):
    """Step 5's replay (replay=True): each budget's winner, seeds and figures as recorded,
    and the committed weights of its seed 1 reproduce that seed's recorded final-epoch
    test accuracy on the real test images."""
    results = recorded_search([5000, 4000])
    for budget, result in results.items():
        report = json.loads((recorded_reports_dir() / f"05_search-{budget}.json").read_text())
        assert result["runs"] == report["runs"] and result["candidates"] == report["candidates"]
        model = trained_model(result, 1)
        assert count_params(model) == report["params"] < budget
        recorded = next(r["final_test_acc"] for r in report["runs"] if r["seed"] == 1)
        assert evaluate(model.to(mnist_test.X.device), mnist_test)["acc"] == pytest.approx(recorded, abs=0.005)
    with pytest.raises(FileNotFoundError, match="budget 7,000.*recorded budgets: 3000, 4000, 5000, 6000"):
        recorded_search([7000])


def test_a_recording_copies_nothing_from_a_notebook_that_replays_its_record(tmp_path):
    from mnist_course.apps.runner import NOTEBOOKS_DIR, replays_its_record
    step5 = NOTEBOOKS_DIR / "05_search.ipynb"
    assert replays_its_record(step5, {}) and replays_its_record(step5, {"seeds": [1]})
    assert not replays_its_record(step5, {"replay": False})
    assert not replays_its_record(NOTEBOOKS_DIR / "04_capacity.ipynb", {})
