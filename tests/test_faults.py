"""Bad input and faults as a learner meets them: through papermill, twice, mid-failure."""

import json

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from mnist_course.apps.runner import NOTEBOOKS_DIR
from mnist_course.engine.paths import recorded_reports_dir, trial_reports_dir

STEP4 = NOTEBOOKS_DIR / "04_capacity.ipynb"
RECORDED = recorded_reports_dir()


def _execute(tmp_path, name, **parameters):
    return pm.execute_notebook(str(STEP4), str(tmp_path / name), parameters=parameters, cwd=str(NOTEBOOKS_DIR),
                               progress_bar=False, kernel_name="python3")


@pytest.mark.parametrize("name,value", [("epochs", 0), ("epochs", "abc"), ("batch_size", -5), ("lr", -1),
                                        ("device", "tpu")])
def test_bad_papermill_parameter_stops_in_the_check_cell(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    with pytest.raises(PapermillExecutionError) as err:
        _execute(tmp_path, "bad.ipynb", **{name: value})
    assert err.value.ename == "ValueError" and f"{name}={value!r}" in err.value.evalue
    executed = nbformat.read(tmp_path / "bad.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c["outputs"]))
    assert "injected-parameters" in code[failed - 1].metadata.tags  # right after the parameters
    assert "check_params(" in code[failed].source


def test_same_notebook_twice_same_seed_same_history(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # quick reports go to the temp folder: keep them apart
    histories = []
    for run in ("a", "b"):
        _execute(tmp_path, f"{run}.ipynb", device="cpu", seeds=[1, 2])  # two seeds, so the aggregation runs
        report = json.loads((tmp_path / "mnist_course_quick_reports" / "04_capacity.json").read_text())
        assert report["quick"] and report["device"].startswith("cpu")
        assert report["seeds"] == [1, 2] and len(report["runs"]) == 2
        histories.append([[{k: v for k, v in row.items() if "seconds" not in k} for row in run["history"]]
                          for run in report["runs"]])
    assert histories[0] == histories[1]


def test_diverging_run_fails_its_notebook_and_keeps_the_earlier_report(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    earlier = tmp_path / "mnist_course_quick_reports" / "04_capacity.json"
    earlier.parent.mkdir()
    earlier.write_text('{"earlier": "run"}')
    with pytest.raises(PapermillExecutionError) as err:
        _execute(tmp_path, "nan.ipynb", lr=1e9)
    assert err.value.ename == "FloatingPointError" and "in epoch 1, first at batch" in err.value.evalue
    assert earlier.read_text() == '{"earlier": "run"}'  # no report written as if the run succeeded


def test_a_direct_papermill_run_leaves_the_recorded_reports_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "0")
    recorded = {p.name: p.read_bytes() for p in RECORDED.iterdir() if p.is_file()}
    trial_path = trial_reports_dir() / "04_capacity.json"
    earlier = trial_path.read_bytes() if trial_path.is_file() else None  # a user's own trial run: restored below
    try:
        _execute(tmp_path, "direct.ipynb", epochs=1, seeds=[3], device="cpu")  # full data, one epoch, one seed
        assert {p.name: p.read_bytes() for p in RECORDED.iterdir() if p.is_file()} == recorded
        trial = json.loads(trial_path.read_text())
        assert trial["seeds"] == [3] and trial["epochs"] == 1 and not trial["quick"]
    finally:
        if earlier is not None:
            trial_path.write_bytes(earlier)
