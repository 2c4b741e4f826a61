"""Ablations: recipes as data, variants by named changes, resumable runs on the validation split."""

import ast
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from mnist_course.engine.augmentation import Augmentation
from mnist_course.engine.data import MNISTSplit, validation_split
from mnist_course.engine.models import count_params, get_model
from mnist_course.engine.optim import OneCycle, StepDecay
from mnist_course.engine.settings import check_params
from mnist_course.engine.training import Extras, config_from_record
from mnist_course.experiments.ablation import (
    _base_changed,
    _settings,
    format_ablation_table,
    format_training_fit,
    prime_cache,
    run_ablation,
    save_ablation,
    select_variants,
    show_ablation,
)
from mnist_course.experiments.ablation_plans import (
    ABLATIONS,
    NOT_WORSE,
    ONE_IMAGE,
    SEEDS,
    TWO_STANDARD_ERRORS,
    Rule,
    Variant,
    decide,
)
from mnist_course.experiments.recipes import (
    RECIPES,
    SEARCH_3000,
    SEARCH_4000,
    SEARCH_5000,
    apply_changes,
    recipe_for_run,
    what_changed,
)
from mnist_course.experiments.search_space import STEP4

REPO = Path(__file__).resolve().parents[1]


def test_a_change_goes_to_the_model_or_to_the_training_config():
    recipe = RECIPES["04_capacity"]
    changed = apply_changes(recipe, {"dropout": 0.2, "max_rotation": 0.0})
    assert changed.model_kwargs["dropout"] == 0.2 and changed.config.max_rotation == 0.0
    assert changed.config.lr == recipe.config.lr
    assert recipe.model_kwargs.get("dropout") != 0.2 and recipe.config.max_rotation == 7.0  # recipe untouched


def test_an_unknown_change_names_itself_and_the_valid_names():
    with pytest.raises(ValueError, match=r"'dropuot'.*dropout.*max_rotation"):
        apply_changes(RECIPES["04_capacity"], {"dropuot": 0.0})
    with pytest.raises(ValueError, match=r"'gama' is invalid for step4; valid: model keywords .*; TrainConfig fields "
                                         r".*; Extras fields label_smoothing, .*; schedule details pct_start, "
                                         r"three_phase, step_size, gamma; Augmentation fields max_scale, "):
        apply_changes(RECIPES["04_capacity"], {"gama": 0.5})
    with pytest.raises(ValueError, match=r"\['step_size'\] are invalid for schedule='onecycle'"):
        apply_changes(RECIPES["04_capacity"], {"step_size": 2})


def test_each_change_goes_to_its_piece():
    recipe = RECIPES["04_capacity"]  # one-cycle, rotation 7, shift 2, batch 64
    assert recipe.augment is None and recipe.extras is None
    assert apply_changes(recipe, {"ema_decay": 0.999, "precise_bn": True}).extras == Extras(ema_decay=0.999,
                                                                                            precise_bn=True)
    assert apply_changes(recipe, {"pct_start": 0.25}).config.schedule == OneCycle(pct_start=0.25)
    assert apply_changes(recipe, {"three_phase": True, "batch_size": 32}).config == replace(
        recipe.config, schedule=OneCycle(three_phase=True), batch_size=32)
    assert apply_changes(recipe, {"pct_start": 0.3}) == recipe  # a piece at its defaults is the plain form
    stepped = apply_changes(recipe, {"schedule": "step", "step_size": 5, "gamma": 0.5})
    assert stepped.config.schedule == StepDecay(step_size=5, gamma=0.5)
    scaled = apply_changes(recipe, {"max_scale": 0.1, "dropout": 0.05})
    assert scaled.augment == Augmentation(max_rotation=7.0, max_shift=2, max_scale=0.1)
    assert (scaled.config.max_rotation, scaled.config.max_shift, scaled.model_kwargs["dropout"]) == (0.0, 0, 0.05)
    # once the recipe has an Augmentation, its rotation and shift are changed there
    assert apply_changes(scaled, {"max_rotation": 0.0}).augment == Augmentation(max_shift=2, max_scale=0.1)
    assert apply_changes(scaled, {"max_scale": 0.0}) == replace(recipe, model_kwargs={"dropout": 0.05})
    elastic = apply_changes(recipe, {"elastic_alpha": 34.0, "elastic_sigma": 4.0, "clean_last_epochs": 2,
                                     "label_smoothing": 0.1})
    assert elastic.augment == Augmentation(max_rotation=7.0, max_shift=2, elastic_alpha=34.0)
    assert elastic.extras == Extras(label_smoothing=0.1, clean_last_epochs=2)
    assert recipe == RECIPES["04_capacity"] and recipe.config.max_rotation == 7.0  # the recipe untouched
    # a run's cache key names a piece only where the recipe has one
    split = MNISTSplit(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    assert not {"augment", "extras"} & set(_settings(apply_changes(recipe, {"pct_start": 0.3}), split, split))
    assert _settings(elastic, split, split)["augment"]["elastic_alpha"] == 34.0
    assert _settings(elastic, split, split)["extras"]["clean_last_epochs"] == 2


@pytest.mark.records
def test_each_recorded_rows_flat_config_reads_as_the_pieces_its_changes_give():
    """The records hold each row's changes beside the flat base config of before the
    pieces: that config with the row's TrainConfig-like changes, read back by
    config_from_record, is the training apply_changes gives the row today."""
    checked = 0
    for name, spec in ABLATIONS.items():
        path = REPO / "reports" / "ablations" / f"{name}.json"
        if not path.is_file():
            continue
        recorded = json.loads(path.read_text())
        flat = recorded["base"]["config"]
        # the old form (every field of before the pieces) or today's (TrainConfig's fields, the
        # pieces' settings only in a row's changes): both read back as the row's training
        assert ("pct_start" in flat and "ema_decay" in flat) or ("pct_start" not in flat and "seed" not in flat), name
        for row in recorded["rows"]:
            recipe = apply_changes(spec.start(), row["changes"])
            changes = {k: v for k, v in row["changes"].items() if k not in recipe.model_kwargs}
            expected = (replace(recipe.config, seed=1), recipe.augment, recipe.extras)
            assert config_from_record({**flat, **changes, "seed": 1}) == expected, (name, row["name"])
            checked += recipe.augment is not None or recipe.extras is not None
    assert checked >= 8  # scale, elastic (4 rows), label smoothing, clean (2), PreciseBN (2), EMA, ...


def test_every_listed_variant_is_a_valid_change_of_its_recipe():
    for study in ABLATIONS.values():
        for variant in study.variants:
            changed = apply_changes(study.start(), variant.changes)
            assert count_params(get_model(changed.model, **changed.model_kwargs)) > 0


def test_the_run_parameters_override_the_recipe():
    run = check_params(epochs=3, batch_size=64, lr=0.05, seeds=[1], device="cpu", quick=False)
    recipe = recipe_for_run("04_capacity", run)
    assert (recipe.config.num_epochs, recipe.config.batch_size, recipe.config.lr) == (3, 64, 0.05)
    assert recipe.config.schedule == RECIPES["04_capacity"].config.schedule
    with pytest.raises(ValueError, match="'09_nothing'.*04_capacity"):
        recipe_for_run("09_nothing", run)


def test_an_ablation_compares_variants_and_resumes_from_its_cache(mnist_train, tmp_path):
    train, val = validation_split(type(mnist_train)(mnist_train.X[:1200], mnist_train.y[:1200]), 200)
    variants = [Variant("no rotation", {"max_rotation": 0.0})]
    lines = []
    study = run_ablation("04_capacity-design", [1, 2], train, val, tmp_path, variants=variants,
                         log=lines.append, num_epochs=1)
    assert len(lines) == 4  # 2 variants x 2 seeds trained
    base, other = study["rows"]
    assert base["name"] == "first design" and base["diff"] == 0.0 and study["base"]["config"]["batch_size"] == 128
    a, b = [r["final_val_acc"] for r in other["runs"]], [r["final_val_acc"] for r in base["runs"]]
    assert other["diff"] == pytest.approx(sum(a) / 2 - sum(b) / 2)
    sd = [math.sqrt(((x[0] - x[1]) ** 2) / 2) for x in (a, b)]  # sample std of two values
    assert other["diff_se"] == pytest.approx(math.sqrt(sd[0] ** 2 / 2 + sd[1] ** 2 / 2))
    assert all(r["history"][0]["test_acc"] is None for r in base["runs"])  # the test set is never used
    assert study["val_images"] == 200 and base["params"] == 7_824

    again = []
    assert run_ablation("04_capacity-design", [1, 2], train, val, tmp_path, variants=variants,
                        log=again.append, num_epochs=1) == study
    assert again == []  # everything came from the cache
    changed = [Variant("no rotation", {"max_rotation": 3.0})]
    run_ablation("04_capacity-design", [1], train, val, tmp_path, variants=changed, log=again.append,
                 num_epochs=1)
    assert len(again) == 1  # a changed setting trains anew; the recipe's seed 1 is reused

    path = save_ablation(study, tmp_path / "out")
    assert path.name == "04_capacity-design.json" and json.loads(path.read_text())["rows"][1]["name"] == "no rotation"
    assert path.with_suffix(".png").is_file()
    table = format_ablation_table(study)
    assert "no rotation" in table and "max_rotation=0.0" in table and "(n = 2)" in table
    row = next(line for line in table.splitlines() if line.startswith("no rotation"))
    assert " ".join(f"{r['final_val_acc']:.2f}" for r in study["rows"][1]["runs"]) in row  # each seed shown


def test_a_recorded_study_of_an_earlier_base_says_so(mnist_train, tmp_path, capsys):
    train, val = validation_split(type(mnist_train)(mnist_train.X[:600], mnist_train.y[:600]), 100)
    study = run_ablation("04_capacity-design", [1], train, val, tmp_path, variants=[], log=None, num_epochs=1)
    run = check_params(epochs=15, batch_size=64, lr=0.1, seeds=[1], device="cpu", quick=False)
    save_ablation(study, tmp_path / "out")
    assert show_ablation("04_capacity-design", run, recorded_dir=tmp_path / "out") == study
    assert "NOTE: recorded for an earlier base; it differs from today's in num_epochs." in capsys.readouterr().out

    study["base"]["config"]["num_epochs"] = 15
    del study["base"]["config"]["weight_decay"]  # a recording made before the field existed, at its default
    study["base"]["model_kwargs"]["head"] = "conv"  # a model keyword written out at its default
    save_ablation(study, tmp_path / "out")
    show_ablation("04_capacity-design", run, recorded_dir=tmp_path / "out")
    assert "NOTE" not in capsys.readouterr().out
    study["base"]["model_kwargs"]["head"] = "gap"  # another model: flagged
    save_ablation(study, tmp_path / "out")
    show_ablation("04_capacity-design", run, recorded_dir=tmp_path / "out")
    assert "differs from today's in head." in capsys.readouterr().out


def test_a_recorded_study_primes_the_cache_so_only_new_rows_train(mnist_train, tmp_path):
    """runs/ is not committed: a fresh clone adding a row to a recorded study must not
    train the recorded rows again, and must not reuse rows of another base or slice."""
    train, val = validation_split(type(mnist_train)(mnist_train.X[:600], mnist_train.y[:600]), 100)
    rows = [Variant("no rotation", {"max_rotation": 0.0}), Variant("not listed", {"max_rotation": 3.0})]
    recorded = run_ablation("04_capacity-design", [1], train, val, tmp_path / "a", variants=rows, log=None,
                            num_epochs=1)
    assert prime_cache("04_capacity-design", recorded, tmp_path / "b", train, val) == 0  # base: 1 epoch, not 15
    recorded["base"]["config"]["num_epochs"] = 15  # as if recorded with today's base
    small = validation_split(type(mnist_train)(mnist_train.X[:500], mnist_train.y[:500]), 100)
    assert prime_cache("04_capacity-design", recorded, tmp_path / "b", *small) == 0  # other image counts
    assert prime_cache("04_capacity-design", recorded | {"code": "older-code"}, tmp_path / "b", train, val) == 0
    assert prime_cache("04_capacity-design", {k: v for k, v in recorded.items() if k != "code"}, tmp_path / "b",
                       train, val) == 0  # a record made before records named their code: never replayed
    assert prime_cache("04_capacity-design", recorded, tmp_path / "b", train, val) == 2  # base + "no rotation"
    assert prime_cache("04_capacity-design", recorded, tmp_path / "b", train, val) == 0  # already there
    trained = []
    study = run_ablation("04_capacity-design", [1], train, val, tmp_path / "b", variants=rows[:1],
                         log=trained.append)
    assert trained == []  # both rows came from the primed cache
    assert [r["runs"] for r in study["rows"]] == [r["runs"] for r in recorded["rows"][:2]]


def _parameters_cell(notebook: str) -> dict:
    """The literal defaults of a notebook's parameters cell."""
    nb = json.loads((REPO / "notebooks" / f"{notebook}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {node.target.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.AnnAssign)}


@pytest.mark.parametrize("notebook", sorted(RECIPES))
def test_each_recipe_has_its_notebooks_parameters(notebook):
    params, config = _parameters_cell(notebook), RECIPES[notebook].config
    assert (params["epochs"], params["batch_size"], params["lr"]) == (config.num_epochs, config.batch_size,
                                                                      config.lr)


def test_what_changed_is_computed_from_the_models_and_configs():
    table = what_changed("03_batchnorm", "04_capacity")
    rows = {line.split(" | ")[0].strip("| *"): line for line in table.splitlines()[2:]}
    assert "6,952" in rows["parameters"] and "7,824" in rows["parameters"]
    assert rows["MaxPool after RF"].endswith("| 7 | **5** |")
    assert rows["RF before GAP"].endswith("| 20 | **22** |")
    assert rows["BatchNorm"] == "| BatchNorm | yes | yes |"  # unchanged rows are not bold
    assert "no GAP" in what_changed("01_setup", "02_skeleton")
    with pytest.raises(ValueError, match="'05_search'"):
        what_changed("04_capacity", "05_search")


def test_variants_are_selected_by_name_in_their_listed_order():
    names = [v.name for v in select_variants("04_capacity", ["no rotation", "no dropout"])]
    assert names == ["no dropout", "no rotation"]
    assert select_variants("04_capacity", None) == list(ABLATIONS["04_capacity"].variants)
    with pytest.raises(ValueError, match=r"\['no dropuot'\].*'no dropout'"):
        select_variants("04_capacity", ["no dropuot"])
    with pytest.raises(ValueError, match="'09_x'.*04_capacity"):
        select_variants("09_x", None)


def _recorded(name: str) -> dict:
    return json.loads((REPO / "reports" / "ablations" / f"{name}.json").read_text())


@pytest.mark.records
def test_step4_recipe_is_the_row_its_recorded_dropout_study_adopted():
    # Rule "not worse" (fixed before seeds 4 and 5 were trained): a part that does not
    # raise the mean final validation accuracy goes.
    spec = ABLATIONS["04_capacity-dropout"]
    base = apply_changes(RECIPES["04_capacity"], spec.base_changes)
    recorded = _recorded("04_capacity-dropout")
    assert recorded["seeds"] == list(spec.seeds) == [1, 2, 3, 4, 5] and spec.rule == NOT_WORSE
    decision = decide(recorded, spec.rule)
    assert decision["cleared"] and decision["row"] == "no dropout"
    adopted = apply_changes(base, spec.variants[0].changes)
    # today's recipe is that row, with the shift that the later augment study added
    assert apply_changes(adopted, {"max_shift": 2}) == RECIPES["04_capacity"] and base != adopted


@pytest.mark.records
def test_step4_recipe_is_the_row_its_recorded_augment_study_adopted():
    spec = ABLATIONS["04_capacity-augment"]
    recorded = _recorded("04_capacity-augment")
    assert recorded["seeds"] == list(spec.seeds) == [1, 2, 3, 4, 5] and spec.rule == ONE_IMAGE
    decision = decide(recorded, spec.rule)
    best = next(v for v in spec.variants if v.name == decision["row"])
    base_recipe = apply_changes(RECIPES["04_capacity"], spec.base_changes)
    adopted = apply_changes(base_recipe, best.changes) if decision["cleared"] else base_recipe
    assert adopted == RECIPES["04_capacity"] and base_recipe != adopted  # today's recipe is that row


def _decision_of(study: str):
    """(the candidate row's Variant, whether it clears the rule) of a recorded ablation
    decided by rule "two standard errors" (library: ablation_plans.decide)."""
    spec = ABLATIONS[study]
    recorded = _recorded(study)
    assert recorded["seeds"] == list(spec.seeds) and spec.rule == TWO_STANDARD_ERRORS
    decision = decide(recorded, spec.rule)
    row = next(r for r in recorded["rows"] if r["name"] == decision["row"])
    assert row["diff"] == pytest.approx(decision["gain"])  # the record's difference is the rule's
    return next(v for v in spec.variants if v.name == decision["row"]), decision["cleared"]


def _record(rows: list[tuple]) -> dict:
    """A constructed ablation record: rows of (name, final mean, final std, last-3 mean), base first, 5 seeds."""
    out = []
    for name, final, std, last3 in rows:
        base_final, base_std = rows[0][1], rows[0][2]
        out.append({"name": name, "final_val_acc": {"mean": final, "std": std, "n": 5},
                    "last3_min_val_acc": {"mean": last3, "std": 0.05, "n": 5}, "diff": final - base_final,
                    "diff_se": math.sqrt(std ** 2 / 5 + base_std ** 2 / 5)})
    return {"study": "constructed", "rows": out}


def test_the_two_standard_errors_rule_decides_on_either_side_of_its_bar():
    # se = sqrt(0.05^2/5 * 2) = 0.0316: the bar is 0.063 points
    base = ("base", 99.40, 0.05, 99.30)
    decision = decide(_record([base, ("a", 99.47, 0.05, 99.30), ("b", 99.45, 0.05, 99.40)]), TWO_STANDARD_ERRORS)
    assert decision | {"text": ""} == {"row": "a", "cleared": True, "gain": pytest.approx(0.07), "text": "",
                                       "se": pytest.approx(0.0316, abs=1e-4), "guard_gain": pytest.approx(0.0)}
    assert not decide(_record([base, ("a", 99.46, 0.05, 99.35)]), TWO_STANDARD_ERRORS)["cleared"]  # 0.06 < 0.063
    assert not decide(_record([base, ("a", 99.50, 0.05, 99.29)]), TWO_STANDARD_ERRORS)["cleared"]  # the guard
    text = decide(_record([base, ("a", 99.50, 0.05, 99.29)]), TWO_STANDARD_ERRORS)["text"]
    assert "'a'" in text and "+0.10 ± 0.03" in text and "-0.01" in text and "does not clear" in text


def test_the_one_image_and_not_worse_rules():
    base = ("base", 99.40, 0.05, 99.30)
    assert decide(_record([base, ("a", 99.40, 0.05, 99.33)]), ONE_IMAGE)["cleared"]       # +0.03 > 0.02, final equal
    assert not decide(_record([base, ("a", 99.41, 0.05, 99.32)]), ONE_IMAGE)["cleared"]   # +0.02 is not more
    assert not decide(_record([base, ("a", 99.39, 0.05, 99.40)]), ONE_IMAGE)["cleared"]   # final below
    assert decide(_record([base, ("a", 99.40, 0.05, 99.20)]), NOT_WORSE)["cleared"]       # a tie adopts
    assert not decide(_record([base, ("a", 99.39, 0.05, 99.50)]), NOT_WORSE)["cleared"]


def test_a_rule_refuses_what_it_cannot_decide():
    with pytest.raises(ValueError, match="no row besides its base"):
        decide(_record([("base", 99.4, 0.05, 99.3)]), ONE_IMAGE)
    one_seed = _record([("base", 99.4, 0.05, 99.3), ("a", 99.5, 0.05, 99.4)])
    one_seed["rows"][1]["diff_se"] = None
    with pytest.raises(ValueError, match="more than one seed"):
        decide(one_seed, TWO_STANDARD_ERRORS)
    with pytest.raises(ValueError, match="metric='best'.*valid metrics final, last3"):
        Rule("x", metric="best")


@pytest.mark.records
def test_every_recorded_ablation_with_a_rule_is_decided_from_its_record():
    decided = {}
    for name, spec in ABLATIONS.items():
        path = REPO / "reports" / "ablations" / f"{name}.json"
        if spec.rule is not None and path.is_file():
            decided[name] = decide(json.loads(path.read_text()), spec.rule)["cleared"]
    # The teacher is the one lever that cleared its rule on a searched winner (Steps 6 and 7 train with it).
    assert decided["05_search-distill"] and decided["05_search-distill4000"]
    assert {n for n, cleared in decided.items() if cleared} == {"04_capacity-dropout", "04_capacity-augment",
                                                                 "05_search-distill", "05_search-distill4000"}


@pytest.mark.parametrize(("first", "second_look"), [("04_capacity-lr", "04_capacity-lr10"),
                                                    ("04_capacity-block", "04_capacity-block10")])
@pytest.mark.records
def test_step4_recipe_is_what_its_recorded_ablations_with_a_second_look_decided(first, second_look):
    # 5 seeds: no row cleared the rule, so its best row had one second look over 10 seeds,
    # under the same rule, which decides.
    best, gains = _decision_of(first)
    assert not gains and ABLATIONS[second_look].variants[0].changes == best.changes
    second, gains = _decision_of(second_look)
    base = ABLATIONS[second_look].start()
    assert RECIPES["04_capacity"] == (apply_changes(base, second.changes) if gains else base)


@pytest.mark.parametrize("study", ["04_capacity-clean", "04_capacity-precisebn", "06_teacher-weight",
                                   "06_teacher-precisebn"])
@pytest.mark.records
def test_a_recipe_is_what_its_recorded_single_look_ablations_decided(study):
    spec = ABLATIONS[study]
    best, gains = _decision_of(study)
    # the recorded base is today's recipe, on the study's fold (else a row adopted into the
    # recipe would pass unseen)
    recorded = json.loads((REPO / "reports" / "ablations" / f"{study}.json").read_text())
    assert _base_changed(study, recorded) == [] and recorded["val_fold"] == spec.val_fold
    base = spec.start()
    assert RECIPES[spec.notebook] == (apply_changes(base, best.changes) if gains else base)


@pytest.mark.records
def test_step5_study_starts_from_the_recorded_search_winner():
    # The study's base must be the model and training that Step 5's record trained.
    recorded = json.loads((REPO / "reports" / "05_search-5000.json").read_text())
    base = ABLATIONS["05_search-augment"].start()
    assert base == SEARCH_5000 and base.model_kwargs == recorded["architecture"]
    assert count_params(get_model(base.model, **base.model_kwargs)) == recorded["params"] < 5000
    # fields added to TrainConfig since the recording take their defaults, which keep its behaviour
    assert (replace(base.config, seed=1), None, None) == config_from_record({**recorded["config"], "seed": 1})
    with pytest.raises(ValueError, match="after_pool"):
        get_model("searched", **{**base.model_kwargs, "after_pool": []})


@pytest.mark.parametrize(("study", "budget", "recipe", "seeds"), [("05_search-distill4000", 4000, SEARCH_4000, 5),
                                                                 ("05_search-distill3000", 3000, SEARCH_3000, 3)])
@pytest.mark.records
def test_the_stretch_studies_start_from_the_recorded_winners_under_their_budgets(study, budget, recipe, seeds):
    recorded = json.loads((REPO / "reports" / f"05_search-{budget}.json").read_text())
    spec = ABLATIONS[study]
    base = spec.start()
    assert base == recipe and spec.val_fold == 1 and len(spec.seeds or SEEDS) == seeds
    model = get_model(base.model, **base.model_kwargs)
    assert count_params(model) == recorded["params"] < budget
    assert repr(get_model("searched", **recorded["architecture"])) == repr(model)
    assert (replace(base.config, seed=1), None, None) == config_from_record({**recorded["config"], "seed": 1})
    # the row is Step 6's teacher, nothing else
    assert spec.variants[0].changes == ABLATIONS["05_search-distill"].variants[0].changes


@pytest.mark.records
def test_the_candidates_study_trains_the_recorded_candidates_as_the_search_trained_them():
    recorded = json.loads((REPO / "reports" / "05_search-5000.json").read_text())
    candidates = {c["trial"]: c for c in recorded["candidates"]}
    spec = ABLATIONS["05_search-candidates"]
    assert spec.val_fold == 1 and spec.start() == SEARCH_5000
    trials = {"Step 4 separable": 75, "Step 4 narrowed": 0, "trial 54": 54}
    assert [v.name for v in spec.variants] == list(trials)
    assert len(candidates) == 4 and set(candidates) == {*trials.values(), recorded["candidates"][0]["trial"]}
    for variant in spec.variants:
        candidate = candidates[trials[variant.name]]
        recipe = apply_changes(spec.start(), variant.changes)
        assert recipe.model_kwargs == {"separable": "none", **candidate["architecture"]}, variant.name
        assert (recipe.config.lr, recipe.config.batch_size, recipe.config.max_rotation) == tuple(
            candidate["training"][k] for k in ("lr", "batch_size", "max_rotation")), variant.name
        assert count_params(get_model(recipe.model, **recipe.model_kwargs)) == candidate["params"] < 5_000


def test_the_winners_block_study_changes_only_the_order_of_its_blocks():
    # The row of 05_search-block: the recorded winner, the same parameters and initial
    # weights for a seed, every block (separable ones too) conv -> BatchNorm -> ReLU.
    spec = ABLATIONS["05_search-block"]
    assert spec.start() == SEARCH_5000 and spec.val_fold == 1 and spec.variants[0].changes == {"bn_first": True}
    recipe = apply_changes(spec.start(), spec.variants[0].changes)
    assert recipe.config == SEARCH_5000.config
    torch.manual_seed(0)
    winner = get_model("searched", **SEARCH_5000.model_kwargs)
    torch.manual_seed(0)
    model = get_model(recipe.model, **recipe.model_kwargs)
    assert count_params(model) == count_params(winner) == 4_744
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), winner.parameters(), strict=True))
    blocks = [m for name, m in model.named_children() if name.startswith("conv")]
    assert len(blocks) == 5 and any(len(b) == 4 for b in blocks)  # conv1 plain, the others separable
    for block in blocks:
        kinds = [type(layer) for layer in block]
        assert kinds[-2:] == [torch.nn.BatchNorm2d, torch.nn.ReLU], kinds
    assert [type(layer) for layer in winner.conv2][-2:] == [torch.nn.ReLU, torch.nn.BatchNorm2d]


def test_the_fold_1_study_compares_the_winner_with_step4_on_other_images(mnist_train, tmp_path):
    spec = ABLATIONS["05_search-fold1"]
    step4 = apply_changes(spec.start(), spec.variants[0].changes)
    as_fields = {k: tuple(v) if isinstance(v, list) else v for k, v in step4.model_kwargs.items()}
    assert as_fields == asdict(STEP4) and step4.config == SEARCH_5000.config  # one change: the model
    # Its runs validate on fold 1 and are cached under it: a fold-0 run of the same training
    # (the augment study's base row, the same winner) neither serves it nor is served by it.
    slice_ = type(mnist_train)(mnist_train.X[:600], mnist_train.y[:600])
    fold0, fold1 = validation_split(slice_, 100), validation_split(slice_, 100, fold=1)
    first = run_ablation("05_search-augment", [1], *fold0, tmp_path, variants=[], log=None, num_epochs=1)
    trained = []
    second = run_ablation("05_search-fold1", [1], *fold1, tmp_path, variants=[], log=trained.append, num_epochs=1)
    assert len(trained) == 1 and (first["val_fold"], second["val_fold"]) == (0, 1)
    assert first["rows"][0]["runs"][0]["history"] != second["rows"][0]["runs"][0]["history"]
    assert "(images 100-199, fold 1)" in format_ablation_table(second)
    recorded = json.loads(json.dumps(second)) | {"val_fold": 0}  # as if recorded on fold 0
    recorded["base"]["config"]["num_epochs"] = 15
    assert prime_cache("05_search-fold1", recorded, tmp_path / "b", *fold1) == 0
    assert prime_cache("05_search-fold1", recorded | {"val_fold": 1}, tmp_path / "b", *fold1) == 1


def test_a_run_recorded_in_one_study_serves_another_with_the_same_training(mnist_train, tmp_path):
    # The course primes the cache from every recorded study of a notebook: the row that a
    # recipe adopted (augment study, "shift ±2 px") is the base of a later study (width).
    train, val = validation_split(type(mnist_train)(mnist_train.X[:600], mnist_train.y[:600]), 100)
    shift = [v for v in ABLATIONS["04_capacity-augment"].variants if v.name == "shift ±2 px"]
    recorded = run_ablation("04_capacity-augment", [1], train, val, tmp_path / "a", variants=shift, log=None,
                            num_epochs=1)
    recorded["base"]["config"]["num_epochs"] = 15  # as if recorded with today's 15 epochs
    assert prime_cache("04_capacity-augment", recorded, tmp_path / "b", train, val) == 2
    trained = []
    later = run_ablation("04_capacity-width", [1], train, val, tmp_path / "b", variants=[], log=trained.append)
    assert trained == [] and later["rows"][0]["runs"] == recorded["rows"][1]["runs"]


def test_format_training_fit_reads_the_last_epoch_of_every_seed():
    def run(train_accs, val):
        return {"history": [{"train_acc": a} for a in train_accs], "final_val_acc": val}

    study = {"rows": [
        {"name": "recipe", "final_val_acc": {"mean": 99.5, "std": 0.1, "n": 2},
         "runs": [run([90.0, 99.4], 99.4), run([91.0, 99.6], 99.6)]},
        {"name": "harder", "final_val_acc": {"mean": 99.0, "std": None, "n": 1}, "runs": [run([80.0, 97.5], 99.0)]},
    ]}
    assert format_training_fit(study).splitlines() == [
        "recipe: training accuracy in the last epoch 99.50 ± 0.14% (n = 2), final validation accuracy 99.50 ± 0.10% "
        "(n = 2)",
        "harder: training accuracy in the last epoch 97.50% (n = 1), final validation accuracy 99.00% (n = 1)"]
