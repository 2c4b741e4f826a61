"""The lesson first: each step notebook reads in a sitting (issue "The lesson first").

Budgets, counted in words of markdown: a step notebook at most 1,500 (Step 4 and the
search step, 2,000), its Analysis at most 400; every notebook (steps, references, studies,
exercises) states what Run All
costs before anything trains.
"""

import json
from pathlib import Path

import nbformat
import pytest

from mnist_course.apps.runner import all_notebooks, conclusion_notebook, step_notebooks

REPO = Path(__file__).resolve().parents[1]
WORDS = 1_500
LONGER = {"04_capacity": 2_000, "05_search": 2_000}  # the step with the most evidence, and the search
ANALYSIS_WORDS = 400


MAIN_PATH = {**step_notebooks(), **conclusion_notebook()}  # the notebooks a learner reads in order


def test_the_course_concludes():
    assert list(MAIN_PATH)[-1] == "conclusion"


def _markdown(name: str) -> list[str]:
    nb = nbformat.read(MAIN_PATH[name], as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("name", list(MAIN_PATH))
def test_a_step_notebook_reads_within_its_word_budget(name):
    words = sum(len(text.split()) for text in _markdown(name))
    assert words <= LONGER.get(name, WORDS), f"{name}: {words} words of markdown"


@pytest.mark.parametrize("name", list(step_notebooks()))
def test_the_analysis_is_short(name):
    analyses = [text for text in _markdown(name) if text.startswith("## Analysis")]
    assert len(analyses) == 1, f"{name}: one Analysis cell"
    assert len(analyses[0].split()) <= ANALYSIS_WORDS, f"{name}: Analysis of {len(analyses[0].split())} words"


EVERY_NOTEBOOK = all_notebooks()  # steps, exercises, references, ablation notebooks, conclusion


@pytest.mark.parametrize("name", list(EVERY_NOTEBOOK))
def test_run_all_costs_are_stated_before_anything_trains(name):
    nb = nbformat.read(EVERY_NOTEBOOK[name], as_version=4)
    first_parameters = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert any(c.cell_type == "markdown" and ("What Run All costs" in c.source or "**Run All**" in c.source)
               for c in nb.cells[:first_parameters]), name


RUN_ALL = REPO / "reports" / "run_all.json"  # scripts/time_run_all.py, a first Run All per notebook


@pytest.mark.records
def test_run_all_of_every_notebook_finished_within_ten_minutes_on_the_recorded_cpu():
    """Each notebook's Run All with its own parameters, timed on a 2-core CPU from a fresh
    clone (nothing replayed from runs/): no error, at most ten minutes."""
    record = json.loads(RUN_ALL.read_text())
    timed = record["notebooks"]
    assert sorted(timed) == sorted(EVERY_NOTEBOOK), "time the missing ones: python scripts/time_run_all.py"
    for name, run in timed.items():
        assert run["path"] == str(EVERY_NOTEBOOK[name].relative_to(REPO)), name
        assert run["error"] is None and run["device"].startswith("cpu") and run["cpu_count"] <= 2, (name, run)
        assert run["seconds"] <= record["limit_seconds"] == 600, f"{name}: Run All took {run['seconds']:.0f} s"



@pytest.mark.parametrize("name", list(step_notebooks()))
def test_every_step_shows_its_model_code_printed_from_the_library(name):
    # One source: the cell prints the class from the library, and nbval checks its output
    # against the committed one, so the page and the library cannot drift apart.
    from mnist_course.engine.models import get_model
    from mnist_course.experiments.recipes import RECIPES

    shown = "SearchNet" if name == "05_search" else type(get_model(RECIPES[name].model,
                                                                   **RECIPES[name].model_kwargs)).__name__
    nb = nbformat.read(step_notebooks()[name], as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")
             and f"inspect.getsource({shown})" in c.source]
    assert cells, f"{name}: no checked cell prints inspect.getsource({shown})"
    assert f"class {shown}(nn.Module)" in "".join(o.get("text", "") for o in cells[0].outputs)


def test_the_readme_reads_in_two_minutes_and_opens_with_the_commands_and_results():
    from mnist_course.engine.paths import REPO_ROOT

    text = (REPO_ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; at most 150 (move detail to docs/)"
    first_screen = "\n".join(lines[:50])
    for expected in ('pip install -e ".[test]"', "jupyter lab notebooks/", "## What we learned",
                     "<!-- learned:start", "<!-- results:start"):
        assert expected in first_screen, f"{expected!r} is not in the README's first 50 lines"
    pages = [link.split(")")[0] for link in text.split("](docs/")[1:]]
    assert len(pages) == len(set(pages)), f"a docs/ page is linked more than once: {sorted(pages)}"
