"""Analyses that cannot go stale: every figure an Analysis quotes must come from the
notebook's recorded run.

For each notebook, the numbers in its Analysis markdown are looked up in what the
recorded run produced: the values of its report(s) in reports/ (per-epoch histories
only for single-seed notebooks: a multi-seed Analysis quotes figures over seeds, such
as the per-epoch means over seeds that its curves show) and of its recorded ablation
ablations in reports/ablations/ (each seed's validation accuracy, the means, the
differences), the
lines its code cells printed (not the per-epoch lines), the headline figures of the
other recorded notebooks (for comparisons) and differences and ratios between them.
A number counts as a figure if it has a decimal point, is 100 or more, or carries a
unit (%, points, s, min, ×); small bare integers (epochs, channels, RF, step numbers)
are wording. A figure matches if it equals an allowed value *of its kind* (a % figure
an accuracy, a "points" figure a difference, a × figure a ratio of parameters or
learning rates, seconds a time) rounded to as many decimals as it is written with.
A re-run that changes a result therefore fails this test until the Analysis is
rewritten, and "the goal is met" must agree with the goal check.
"""

import json
import math
import re
from itertools import combinations

import nbformat
import pytest

from mnist_course.apps.runner import reference_notebooks, step_notebooks
from mnist_course.course import steps
from mnist_course.engine import results
from mnist_course.engine.data import VAL_IMAGES
from mnist_course.engine.paths import recorded_reports_dir
from mnist_course.engine.reporting import compare_with_published, goal_figures, load_reports
from mnist_course.engine.results import mean_curve

pytestmark = pytest.mark.records  # every test here reads the committed reports/

REPORTS = {r["notebook"]: r for r in load_reports(recorded_reports_dir())}
NOTEBOOKS = {**step_notebooks(), **reference_notebooks()}
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(\s*(?:%|×|x\b|points?\b|s\b|min\b))?")
CONSTANTS = [results.GOAL_MAX_PARAMS, results.GOAL_MIN_TEST_ACC, results.GOAL_MIN_SEEDS, results.GOAL_MAX_EPOCHS,
             steps.TRAIN_IMAGES, steps.TEST_IMAGES, VAL_IMAGES, steps.TRAIN_IMAGES - VAL_IMAGES, 28 * 28]


def _numbers(value, with_history: bool, path: str = ""):
    """(key path, number) for every number inside a JSON value; per-epoch histories only
    ``with_history``."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "history" or with_history:
                yield from _numbers(item, with_history, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item, with_history, path)


def _reports_of(name: str) -> list[dict]:
    return [r for notebook, r in REPORTS.items() if notebook == name or notebook.startswith(f"{name}-")]


def _other_recordings(name: str) -> list:
    """The notebook's recordings beside its report: reports/gpu/ (the same recipe and
    seeds on a GPU)."""
    return sorted((recorded_reports_dir() / "gpu").glob(f"{name}*.json"))


def _printed(nb) -> list[tuple[float, str]]:
    """(number, unit) the notebook's code cells printed, without the per-epoch lines."""
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("epoch")]
    return [(float(m.group(1).replace(",", "")), (m.group(2) or "").strip())
            for m in NUMBER.finditer("\n".join(lines))]


PERCENT_KEYS = ("acc", "precision", "recall", "f1", "floor", "lower_bound")


def allowed_values(name: str, nb) -> dict[str, list[float]]:
    """What each kind of figure may be, by unit: "%" (accuracies and their spreads),
    "points" (differences), "×" (ratios), "s" (seconds) and "" (any recorded number)."""
    own = _reports_of(name)
    numbers = [(path, v) for r in own for path, v in _numbers(r, with_history=len(r["seeds"]) == 1)]
    for study in sorted((recorded_reports_dir() / "ablations").glob(f"{name}*.json")):  # the Ablation section
        numbers += [(path, v) for path, v in _numbers(json.loads(study.read_text()), with_history=False)]
    for check in _other_recordings(name):  # seeds not recorded; the same seeds on a GPU
        numbers += [(path, v) for path, v in _numbers(json.loads(check.read_text()), with_history=False)]
    printed = _printed(nb)
    percent = [v for path, v in numbers if any(k in path.rsplit(".", 1)[-1] or k in path for k in PERCENT_KEYS)]
    percent += [v for v, unit in printed if unit == "%"] + [results.GOAL_MIN_TEST_ACC, 100 * results.GOAL_CONFIDENCE]
    points = [v for path, v in numbers if "gap" in path or "diff" in path]  # "diff": an ablation row's
    for r in own:
        rows = compare_with_published(r, r.get("published") or [])
        percent += [row[k] for row in rows for k in ("published", "reproduced") if row[k] is not None]
        points += [row["difference"] for row in rows if row["difference"] is not None]
        for key in ("train_acc", "test_acc"):  # per-epoch means over seeds, as the curves show them
            percent += mean_curve(r["runs"], key)["mean"]
    losses = [v for r in own for key in ("train_loss", "test_loss") for v in mean_curve(r["runs"], key)["mean"]]
    for r in REPORTS.values():  # other notebooks' headline figures, for comparisons
        percent += [r["final_test_acc_mean"], r["final_test_acc_min"], r["final_test_acc_max"]]
        percent += [x for x in [goal_figures(r)["lower_bound"]] if x is not None]  # the goal's bound
        percent += [x for x in (r["final_test_acc_std"], r.get("last3_min_test_acc")) if x is not None]
        percent += mean_curve(r["runs"], "test_acc")["mean"] + [r.get("best_test_acc_mean") or 0.0]
        points += [r["train_test_gap"]["mean"]] if "train_test_gap" in r else []
    means = [r["final_test_acc_mean"] for r in REPORTS.values()]
    points += [a - b for a, b in combinations(means, 2)] + [v for v, _ in printed]
    params = [r["params"] for r in REPORTS.values()]
    lrs = [r["config"]["lr"] for r in REPORTS.values() if r["config"].get("lr")]
    ratios = [a / b for a in params for b in params] + [a / b for a in lrs for b in lrs]
    seconds = [v for path, v in numbers if "seconds" in path] + [v for v, _ in printed]
    sizes = [math.prod(layer["shape"]) for r in own for layer in r.get("layers", [])]  # e.g. 800 inputs to fc1
    anything = ([v for _, v in numbers] + [v for v, _ in printed] + losses + params + lrs + sizes
                + [abs(a - b) for a, b in combinations(params, 2)] + CONSTANTS)
    return {"%": percent, "points": points, "×": ratios, "s": seconds,
            "": anything + percent + points + ratios + seconds}


def analysis_text(nb) -> str:
    """The markdown from the "## Analysis" heading to the next level-2 heading."""
    cells = [c.source for c in nb.cells if c.cell_type == "markdown"]
    start = next((i for i, s in enumerate(cells) if s.startswith("## Analysis")), None)
    if start is None:
        return ""
    text = [cells[start]]
    for s in cells[start + 1:]:
        if s.startswith("## "):
            break
        text.append(s)
    return "\n".join(text)


def quoted_figures(text: str) -> list[tuple[str, str]]:
    """(number as written, unit) for every figure in ``text``, skipping inline code."""
    text = re.sub(r"`[^`]*`", "", text)
    figures = []
    for m in NUMBER.finditer(text):
        number, unit = m.group(1), (m.group(2) or "").strip()
        if "." in number or float(number.replace(",", "")) >= 100 or unit:
            figures.append((number, unit))
    return figures


def matches(number: str, values: list[float]) -> bool:
    decimals = len(number.split(".")[1]) if "." in number else 0
    written = float(number.replace(",", ""))
    return any(abs(round(abs(v), decimals) - written) < 1e-9 for v in values)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_figure_in_the_analysis_comes_from_the_recorded_run(name):
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    text = analysis_text(nb)
    assert text, f"{name} has no '## Analysis' section"
    assert _reports_of(name), f"{name} has no report in reports/"
    allowed = allowed_values(name, nb)
    kinds = {"%": "%", "points": "points", "point": "points", "×": "×", "x": "×", "s": "s", "min": "s", "": ""}
    stale = [f"{number}{unit}" for number, unit in quoted_figures(text)
             if not matches(number, allowed[kinds[unit]] if unit != "min" else [v / 60 for v in allowed["s"]])]
    assert not stale, f"{name}: figures in the Analysis that the recorded run does not contain: {stale}"


PAIR = re.compile(r"(?<![\w.])([+−-]?)(\d+(?:\.\d+)?)\s*±\s*(\d+(?:\.\d+)?)")


def _pairs(value):
    """(mean, std) of every {"mean", "std"} dict inside a JSON value (aggregates, ablation rows),
    and (diff, diff_se) of every ablation row: a difference quoted with its standard error."""
    if isinstance(value, dict):
        if isinstance(value.get("mean"), (int, float)) and isinstance(value.get("std"), (int, float)):
            yield value["mean"], value["std"]
        if isinstance(value.get("diff"), (int, float)) and isinstance(value.get("diff_se"), (int, float)):
            yield value["diff"], value["diff_se"]
        for item in value.values():
            yield from _pairs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _pairs(item)


def allowed_pairs(name: str, nb) -> list[tuple[float, float]]:
    """The (mean, std) pairs an Analysis may quote as "mean ± std": the aggregates of its
    own reports and recorded ablations, every report's headline, and the pairs its code
    cells printed."""
    pairs = [p for r in _reports_of(name) for p in _pairs(r)]
    for study in sorted((recorded_reports_dir() / "ablations").glob(f"{name}*.json")):
        pairs += list(_pairs(json.loads(study.read_text())))
    for other in (json.loads(path.read_text()) for path in _other_recordings(name)):
        pairs += list(_pairs(other)) + [(other["final_test_acc_mean"], other["final_test_acc_std"])]
    pairs += [(r["final_test_acc_mean"], r["final_test_acc_std"]) for r in REPORTS.values()
              if r["final_test_acc_std"] is not None]
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    pairs += [(float(m.group(2)) * (-1 if m.group(1) in ("−", "-") else 1), float(m.group(3)))
              for m in PAIR.finditer(text)]
    return pairs


def _same_sign(sign: str, value: float, written: str) -> bool:
    """A figure written with a sign has the recorded value's: "−0.02" matches -0.02, not
    +0.02 (a zero as written matches either). An unsigned one is a magnitude ("costs 0.13
    points"), so either sign matches."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    return not sign or round(value, decimals) == 0 or (value < 0) == (sign in ("−", "-"))


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_every_mean_and_spread_in_the_analysis_belong_together(name):
    """A "mean ± std" is one figure: both parts must come from the same recorded
    aggregate, so a stale pair cannot pass on a mean and a spread found apart."""
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    pairs = allowed_pairs(name, nb)
    text = re.sub(r"`[^`]*`", "", analysis_text(nb))
    stale = [m.group(0) for m in PAIR.finditer(text)
             if not any(matches(m.group(2), [mean]) and matches(m.group(3), [std]) and _same_sign(m.group(1), mean,
                                                                                                  m.group(2))
                        for mean, std in pairs)]
    assert not stale, f"{name}: mean ± std pairs in the Analysis that no recorded aggregate holds: {stale}"


GOAL_STEPS = results.GOAL_STEPS  # the steps that claim the course goal (seeds 1-10) and their budgets


@pytest.mark.parametrize("name", list(GOAL_STEPS))
def test_the_goal_sentence_agrees_with_the_goal_check(name, capsys):
    text = analysis_text(nbformat.read(NOTEBOOKS[name], as_version=4)).lower()
    met = steps.goal_check(REPORTS[name], max_params=GOAL_STEPS[name])
    capsys.readouterr()
    assert ("goal is met" in text) == met and ("goal is not met" in text) == (not met)


def test_the_checker_catches_a_stale_figure():
    values = [99.4567, 7824, 0.11]
    assert matches("99.46", values) and matches("99.5", values) and matches("7,824", values)
    assert not matches("99.47", values) and not matches("7,825", values)
    assert quoted_figures("**99.46%** with 7,824 parameters, 3 epochs, `lr=0.1`, gap 0.11 points") == [
        ("99.46", "%"), ("7,824", ""), ("0.11", "points")]


def test_committed_notebooks_carry_the_recorded_run():
    """The Results a committed step notebook printed are the report in reports/."""
    for name in step_notebooks():
        reports = _reports_of(name)  # one per notebook; Step 5 records one per budget (05_search-<budget>)
        assert reports, f"{name} has no report in reports/: record it with the course command"
        nb = nbformat.read(NOTEBOOKS[name], as_version=4)
        printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        for report in reports:
            assert f"Final-epoch test accuracy: {report['final_test_acc_mean']:.2f}" in printed, report["notebook"]
            seeds = results.GOAL_MIN_SEEDS if name in GOAL_STEPS else 5  # the goal steps: seeds 1-10, the rest 1-5
            assert not report["quick"] and report["epochs"] == 15, report["notebook"]
            assert report["seeds"] == list(range(1, seeds + 1)), report["notebook"]
