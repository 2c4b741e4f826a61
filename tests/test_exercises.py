"""The exercises that retrain (course/exercises.py, notebooks/exercises/): one per step,
each trains a step's recipe and one change on a slice, scores them on the validation
split, and checks a learner's prediction against the measured difference."""

import math
import re

import nbformat
import pytest

from mnist_course.apps.runner import exercise_notebooks, select_steps, step_notebooks
from mnist_course.course.exercises import (
    STEP_RECIPES,
    check_prediction,
    exercise_recipe,
    load_slice,
    noise_band,
    train_on_slice,
)
from mnist_course.engine.settings import check_params


def run_of(val_acc, label="run", val_images=5_000, params=100, seconds=1.0):
    return {"label": label, "val_acc": val_acc, "val_images": val_images, "params": params, "seconds": seconds}


def test_every_step_has_an_exercise_found_by_the_course_command():
    steps = list(step_notebooks())
    assert list(exercise_notebooks()) == [f"x{name}" for name in steps]
    assert select_steps(["x04"], {**step_notebooks(), **exercise_notebooks()}) == ["x04_capacity"]
    assert set(steps) <= set(STEP_RECIPES)


@pytest.mark.parametrize("name", list(exercise_notebooks()))
def test_an_exercise_asks_for_a_prediction_before_it_trains_and_checks_it_after(name):
    cells = [c for c in nbformat.read(exercise_notebooks()[name], as_version=4).cells if c.cell_type == "code"]
    sources = [c.source for c in cells]
    asked = next(i for i, s in enumerate(sources) if s.startswith("prediction = None"))
    trained = next(i for i, s in enumerate(sources) if "train_on_slice(" in s and "import" not in s)
    checked = next(i for i, s in enumerate(sources) if "check_prediction(prediction" in s)
    assert asked < trained < checked
    changed = next(s for s in sources if "changed = exercise_recipe(" in s)
    assert changed.startswith("# NBVAL_CHECK_OUTPUT")  # the parameter counts are checked


def test_the_noise_band_is_two_binomial_std_of_a_difference():
    a, b = run_of(98.0), run_of(99.0)
    assert noise_band(a, b) == pytest.approx(200 * math.sqrt(0.98 * 0.02 / 5000 + 0.99 * 0.01 / 5000))


def test_a_prediction_is_checked_against_the_difference_beyond_noise(capsys):
    base = run_of(98.00, "base")
    assert check_prediction("higher", base, run_of(99.00, "changed")) == "higher"
    assert "Your prediction 'higher': right." in capsys.readouterr().out
    assert check_prediction("higher", base, run_of(98.10, "changed")) == "same"  # 0.10 < the band of ~0.47
    assert "not what was measured" in capsys.readouterr().out
    assert check_prediction(None, base, run_of(96.0, "changed")) == "lower"
    assert "No prediction was written" in capsys.readouterr().out
    with pytest.raises(ValueError, match="prediction='better' is invalid; write one of 'higher', 'lower', 'same'"):
        check_prediction("better", base, base)


def test_a_wrong_change_or_step_names_what_is_valid():
    assert exercise_recipe("03_batchnorm", {"batchnorm": False}).model_kwargs == {"batchnorm": False}
    assert exercise_recipe("05_search").model == "searched"
    with pytest.raises(ValueError, match="change 'batch_norm' is invalid for step3; valid: model keywords batchnorm"):
        exercise_recipe("03_batchnorm", {"batch_norm": False})
    with pytest.raises(ValueError, match="notebook='08_more' has no recipe; valid: 01_setup"):
        exercise_recipe("08_more")


def test_a_slice_trains_on_real_images_and_is_scored_on_the_validation_split(capsys):
    run = check_params(epochs=1, seed=1, device="cpu", quick=True)
    _, train, val = load_slice(run, 500)
    assert (len(train), len(val)) == (500, 2_000 // 12)  # quick: a twelfth of the 2,000-image slice validates
    result = train_on_slice("Step 3", exercise_recipe("03_batchnorm"), train, val, epochs=1, seed=1)
    assert result["params"] == 6_952 and 0 <= result["val_acc"] <= 100 and result["val_images"] == len(val)
    assert "epoch  1/1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="train_images=0 is invalid"):
        load_slice(run, 0)
    with pytest.raises(ValueError, match="learns from teacher 'wide57k'; pass its teacher_logits"):
        train_on_slice("Step 6", exercise_recipe("06_teacher"), train, val, epochs=1)


@pytest.mark.records
@pytest.mark.parametrize("name", list(exercise_notebooks()))
def test_a_recorded_exercise_trained_in_under_two_minutes(name):
    # What each exercise's header promises, from its committed run's printed seconds (the
    # two runs, and the teacher where there is one).
    printed = "".join(output.get("text", "") for cell in nbformat.read(exercise_notebooks()[name], as_version=4).cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    runs = re.search(r"The two runs took (\d+) s", printed)
    assert runs, f"{name}: no recorded run (execute it with the course command)"
    teacher = re.search(r"teacher wide57k: .* in (\d+) s;", printed)
    assert int(runs.group(1)) + (int(teacher.group(1)) if teacher else 0) <= 120
