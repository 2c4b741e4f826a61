"""Knowledge distillation: the loss against Hinton et al.'s definition, fit's use of the
teacher's logits (row by row, with the shuffle), the teacher cache, and bad settings."""

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_course.engine.data import MNISTSplit
from mnist_course.engine.models import Architecture, SearchNet, count_params
from mnist_course.engine.training import TrainConfig, distillation_loss, evaluate, fit, set_seed
from mnist_course.experiments import distill


@pytest.fixture(scope="module")
def small(mnist_train):
    return MNISTSplit(mnist_train.X[:512], mnist_train.y[:512]), MNISTSplit(mnist_train.X[512:768],
                                                                             mnist_train.y[512:768])


def test_distillation_loss_is_t_squared_times_the_kl_divergence_of_the_softened_softmaxes():
    # Reference: Hinton, Vinyals and Dean (2015), section 2: the soft targets p = softmax(v / T)
    # of the teacher's logits v, the student's q = softmax(z / T); the term is the
    # cross-entropy of q against p (here less p's entropy, which does not depend on the
    # student), times T^2. Its gradient per logit is T (q - p) / N with the batch mean.
    torch.manual_seed(0)
    z, v, T = torch.randn(5, 10, requires_grad=True), torch.randn(5, 10) * 3, 4.0
    p, log_q = (v / T).softmax(1), (z / T).log_softmax(1)
    reference = T ** 2 * (p * (p.log() - log_q)).sum(1).mean()
    loss = distillation_loss(z, v, T)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    loss.backward()
    expected_grad = T * ((z / T).softmax(1) - p) / 5
    assert torch.allclose(z.grad, expected_grad.detach(), atol=1e-6)
    assert distillation_loss(v, v, T).item() == pytest.approx(0.0, abs=1e-6)


def test_fit_trains_towards_the_teacher_logits_of_each_image_not_of_its_batch_slot(small):
    # A "teacher" that calls every digit the next one: with the whole loss from it, the
    # student must learn (y + 1) mod 10 on the training images, which it can only do if each
    # shuffled batch gets the rows of its own images.
    train, _ = small
    shifted = (train.y + 1) % 10
    teacher_logits = 8.0 * F.one_hot(shifted, 10).float()
    set_seed(0)
    model = SearchNet(Architecture((8, 8), 0, (8, 8), head="gap", last_padding=0))
    config = TrainConfig(num_epochs=12, batch_size=64, lr=0.05, teacher="wide57k", distill_weight=1.0,
                         distill_temperature=1.0)
    fit(model, train, None, config, log=None, teacher_logits=teacher_logits)
    assert evaluate(model, MNISTSplit(train.X, shifted))["acc"] > 80
    assert evaluate(model, train)["acc"] < 10


def test_distill_weight_zero_point_five_mixes_the_two_losses(small):
    # At learning rate 0 the weights stay put, so epoch 1's trained-on loss is the mix of
    # the plain cross-entropy and the distillation term on the same batches.
    train, _ = small
    teacher_logits = torch.randn(len(train), 10, generator=torch.Generator().manual_seed(0))
    losses = {}
    for weight in (0.5, 1.0):
        set_seed(0)
        model = SearchNet(Architecture((4,), 0, (4,), head="gap", last_padding=0))
        config = TrainConfig(num_epochs=1, batch_size=64, lr=0.0, teacher="wide57k", distill_weight=weight)
        losses[weight] = fit(model, train, None, config, log=None, teacher_logits=teacher_logits)[0]["train_loss"]
    set_seed(0)
    model = SearchNet(Architecture((4,), 0, (4,), head="gap", last_padding=0))
    losses[0.0] = fit(model, train, None, TrainConfig(num_epochs=1, batch_size=64, lr=0.0), log=None)[0]["train_loss"]
    assert losses[0.5] == pytest.approx(0.5 * losses[0.0] + 0.5 * losses[1.0], rel=1e-4)


@pytest.mark.parametrize("changes, logits, message", [
    ({"distill_weight": 0.5}, None, r"teacher='' with distill_weight=0.5 is invalid"),
    ({"teacher": "wide57k"}, None, r"teacher='wide57k' with distill_weight=0.0 is invalid"),
    ({"teacher": "wide57k", "distill_weight": 1.5}, None, r"distill_weight=1.5 is invalid"),
    ({"teacher": "wide57k", "distill_weight": 0.5, "distill_temperature": 0.0}, None,
     r"distill_temperature=0.0 is invalid"),
    ({"teacher": "wide57k", "distill_weight": 0.5}, None, r"teacher_logits missing with teacher='wide57k'"),
    ({}, "right", r"teacher_logits given with teacher=''"),
    ({"teacher": "wide57k", "distill_weight": 0.5}, "short", r"teacher_logits of shape \(10, 10\) are invalid"),
])
def test_bad_distillation_settings_are_named_before_training(small, changes, logits, message):
    train, _ = small
    model = SearchNet(Architecture((4,), 0, (4,), head="gap", last_padding=0))
    before = [p.clone() for p in model.parameters()]
    given = {None: None, "right": torch.zeros(len(train), 10), "short": torch.zeros(10, 10)}[logits]
    with pytest.raises(ValueError, match=message):
        fit(model, train, None, replace(TrainConfig(num_epochs=1), **changes), log=None, teacher_logits=given)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_unknown_teacher_is_named():
    with pytest.raises(ValueError, match=r"teacher='nope' is unknown; valid: 'wide57k'"):
        distill.get_teacher("nope")


def test_the_teacher_is_trained_once_per_split_then_loaded(small, tmp_path, monkeypatch):
    train, val = small
    tiny = distill.Teacher(Architecture((4,), 0, (6,), head="gap", last_padding=0),
                           replace(distill.TEACHERS["wide57k"].config, num_epochs=1))
    monkeypatch.setitem(distill.TEACHERS, "tiny", tiny)
    lines = []
    first = distill.teacher_logits("tiny", train, val, cache_dir=tmp_path, log=lines.append)
    assert first.shape == (len(train), 10)
    assert lines[0].startswith("teacher tiny: training") and len(lines) == 2  # the line and one epoch
    again = distill.teacher_logits("tiny", train, val, cache_dir=tmp_path, log=lines.append)
    assert "loaded from" in lines[-1] and torch.equal(first, again)
    _, record = distill.train_teacher("tiny", train, cache_dir=tmp_path, log=None)
    assert record["params"] == count_params(SearchNet(tiny.arch)) and record["train_images"] == len(train)
    assert record["final_val_acc"] == record["history"][-1]["val_acc"]
    # Other images: another teacher (a file of its own).
    other = MNISTSplit(train.X[:256], train.y[:256])
    distill.teacher_logits("tiny", other, cache_dir=tmp_path, log=lines.append)
    assert lines[-2].startswith("teacher tiny: training") and len(list(tmp_path.glob("*.pt"))) == 2


def test_a_committed_teacher_is_loaded_for_its_recipe_and_images_only(small, tmp_path, monkeypatch):
    train, val = small
    tiny = distill.Teacher(Architecture((4,), 0, (6,), head="gap", last_padding=0),
                           replace(distill.TEACHERS["wide57k"].config, num_epochs=1))
    monkeypatch.setitem(distill.TEACHERS, "tiny", tiny)
    monkeypatch.setattr(distill, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    weights = distill.commit_teacher("tiny", train, val, log=None, cache_dir=tmp_path / "trained")
    assert weights == distill.committed_teacher("tiny") and weights.with_suffix(".json").is_file()
    trained = distill.teacher_logits("tiny", train, cache_dir=tmp_path / "trained", log=None)
    lines = []  # an empty run cache: the committed weights, not a training
    loaded = distill.teacher_logits("tiny", train, cache_dir=tmp_path / "empty", log=lines.append)
    assert lines == [lines[0]] and "loaded the committed teacher_tiny.pt" in lines[0] and torch.equal(trained, loaded)
    _, record = distill.train_teacher("tiny", train, cache_dir=tmp_path / "empty", log=None)
    assert record["committed"] == "teacher_tiny.pt" and record["train_images"] == len(train)
    # Asked to train, other images, or another recipe under the name: trained, not loaded.
    distill.train_teacher("tiny", train, cache_dir=tmp_path / "asked", log=lines.append, committed=False)
    distill.train_teacher("tiny", MNISTSplit(train.X[:256], train.y[:256]), cache_dir=tmp_path / "other",
                          log=lines.append)
    monkeypatch.setitem(distill.TEACHERS, "tiny", replace(tiny, config=replace(tiny.config, lr=0.05)))
    distill.train_teacher("tiny", train, cache_dir=tmp_path / "recipe", log=lines.append)
    assert sum(line.startswith("teacher tiny: training") for line in lines) == 3


def test_logits_for_is_none_without_a_teacher(small):
    assert distill.logits_for(TrainConfig(), small[0]) is None


def test_the_registered_teacher_is_what_its_name_and_docstring_say():
    assert count_params(SearchNet(distill.TEACHERS["wide57k"].arch)) == 56_688


def test_a_study_with_a_teacher_states_what_the_teacher_cost(small, tmp_path, monkeypatch):
    # run_ablation adds the teachers its rows learned from (loaded from their cache), and
    # the table prints one line per teacher under the rows.
    from mnist_course.experiments import ablation

    train, val = small
    tiny = distill.Teacher(Architecture((4,), 0, (6,), head="gap", last_padding=0),
                           replace(distill.TEACHERS["wide57k"].config, num_epochs=1))
    monkeypatch.setitem(distill.TEACHERS, "tiny", tiny)
    monkeypatch.setattr(distill, "runs_dir", lambda: tmp_path)
    row = ablation.Variant("distilled", {"teacher": "tiny", "distill_weight": 0.5}, "a check")
    study = ablation.run_ablation("04_capacity-distill", [1], train, val, tmp_path / "cache", variants=[row],
                                  log=None, num_epochs=1)
    _, record = distill.train_teacher("tiny", train, val, log=None)
    assert study["teachers"] == {"tiny": {k: record[k] for k in ("params", "train_images", "seconds",
                                                                  "final_val_acc")}}
    assert ablation.format_ablation_table(study).splitlines()[-1] == (
        f"teacher tiny: {record['params']:,} parameters, trained once on the same {len(train):,} images in "
        f"{record['seconds']:.0f} s; final validation accuracy {record['final_val_acc']:.2f}%")


def test_logits_of_is_the_eval_mode_forward_pass_row_for_row(small):
    train, _ = small
    model = SearchNet(Architecture((4,), 0, (6,), head="gap", last_padding=0)).train()
    logits = distill.logits_of(model, train, batch_size=100)  # 512 images: the last batch has 12
    assert model.training  # the caller's mode is restored
    with torch.no_grad():
        expected = model.eval()(train.X)
    assert logits.shape == (512, 10) and torch.allclose(logits, expected, atol=1e-5)


def test_step_6_is_step_5s_winner_unchanged_but_for_the_teacher():
    from dataclasses import asdict

    from mnist_course.course.steps import build_model
    from mnist_course.experiments.recipes import RECIPES, SEARCH_5000

    step6 = RECIPES["06_teacher"]
    assert (step6.model, step6.model_kwargs) == (SEARCH_5000.model, SEARCH_5000.model_kwargs)
    changed = {k: v for k, v in asdict(step6.config).items() if v != getattr(SEARCH_5000.config, k)}
    assert changed == {"teacher": "wide57k", "distill_weight": 0.5} and step6.config.distill_temperature == 4.0
    assert count_params(build_model(step6.model, seed=1, **step6.model_kwargs)) == 4_744


def test_step_7_is_step_5s_winner_under_4000_taught_as_step_6_teaches():
    from dataclasses import asdict

    from mnist_course.course.steps import build_model
    from mnist_course.experiments.recipes import RECIPES, SEARCH_4000

    step6, step7 = RECIPES["06_teacher"], RECIPES["07_stretch"]
    assert (step7.model, step7.model_kwargs) == (SEARCH_4000.model, SEARCH_4000.model_kwargs)
    changed = {k for k, v in asdict(step7.config).items() if v != getattr(SEARCH_4000.config, k)}
    assert changed == {"teacher", "distill_weight"}
    assert all(getattr(step7.config, k) == getattr(step6.config, k)
               for k in ("teacher", "distill_weight", "distill_temperature"))
    assert count_params(build_model(step7.model, seed=1, **step7.model_kwargs)) == 3_914


def test_the_weight_study_changes_only_the_teachers_share_of_step_6s_recipe():
    from mnist_course.experiments.ablation_plans import ABLATIONS
    from mnist_course.experiments.recipes import RECIPES

    spec = ABLATIONS["06_teacher-weight"]
    assert spec.start() == RECIPES["06_teacher"] and spec.val_fold == 1 and spec.seeds == (1, 2, 3, 4, 5)
    assert [v.changes for v in spec.variants] == [{"distill_weight": 0.9}]


def test_a_teacher_leaves_the_callers_random_state_as_it_was(small, tmp_path, monkeypatch):
    # A student's dropout draws from the global generators: whether its teacher was trained
    # here or loaded from the cache must not change them.
    import random

    train, _ = small
    tiny = distill.Teacher(Architecture((4,), 0, (6,), head="gap", last_padding=0),
                           replace(distill.TEACHERS["wide57k"].config, num_epochs=1))
    monkeypatch.setitem(distill.TEACHERS, "tiny", tiny)
    for _ in range(2):  # trained, then loaded
        set_seed(5)
        expected = (torch.rand(3), random.random())
        set_seed(5)
        distill.train_teacher("tiny", train, cache_dir=tmp_path, log=None)
        got = (torch.rand(3), random.random())
        assert torch.equal(got[0], expected[0]) and got[1] == expected[1]


@pytest.mark.records
def test_the_committed_teacher_is_the_recipe_the_recordings_learned_from(mnist_train, mnist_test, tmp_path):
    # scripts/train_weights.py --teacher wide57k: the recipe on all 60,000 training images, the
    # teacher's size that Steps 6 and 7 recorded. Not the same file: trained on another CPU, the
    # same code and seed give a slightly different teacher (docs/running.md, "The shipped teacher").
    meta = json.loads(distill.committed_teacher("wide57k").with_suffix(".json").read_text())
    assert meta["train_images"] == len(mnist_train) == 60_000
    assert meta["split"] == distill.split_fingerprint(mnist_train)
    assert meta["architecture"] == json.loads(json.dumps(asdict(distill.TEACHERS["wide57k"].arch)))
    assert meta["definition"]["config"]["seed"] == distill.TEACHERS["wide57k"].config.seed
    reports = Path(__file__).resolve().parents[1] / "reports"
    for name in ("06_teacher", "07_stretch"):
        recorded = json.loads((reports / f"{name}.json").read_text())["teacher"]
        assert (recorded["name"], recorded["params"], recorded["train_images"]) == ("wide57k", meta["params"], 60_000)
    model, record = distill.train_teacher("wide57k", mnist_train, cache_dir=tmp_path, log=None)  # not trained
    assert record["committed"] == "teacher_wide57k.pt" and record["seconds"] == meta["seconds"]
    assert not list(tmp_path.iterdir())  # nothing trained, nothing cached
    assert evaluate(model, mnist_test)["acc"] == pytest.approx(meta["final_test_acc"], abs=0.005)
