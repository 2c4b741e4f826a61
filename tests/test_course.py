"""The course command: choosing steps, surviving a failed notebook, notebook hygiene."""

import ast
import json

import nbformat
import pytest

from mnist_course.course import (NOTEBOOKS_DIR, main, reference_notebooks, run_course, select_steps,
                                 step_notebooks)


def test_the_four_steps_are_found_in_order():
    assert list(step_notebooks()) == ["01_setup", "02_skeleton", "03_batchnorm", "04_capacity"]


def test_the_four_reference_set_ups_are_found():
    assert list(reference_notebooks()) == ["r1_pytorch_example", "r2_wide_593k", "r3_fcnn_vs_cnn", "r4_is_it_a_three"]


def test_steps_by_number_or_name_and_unknown_names_listed():
    available = {**step_notebooks(), **reference_notebooks()}
    assert select_steps(["4", "01_setup", "R2"], available) == ["04_capacity", "01_setup", "r2_wide_593k"]
    assert select_steps(None, available) == list(available)
    with pytest.raises(ValueError, match="'05'.*01_setup, 02_skeleton, 03_batchnorm, 04_capacity"):
        select_steps(["05"], available)


def test_unknown_step_on_the_command_line_exits_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--steps", "nine"])
    assert exit_.value.code == 2 and "04_capacity" in capsys.readouterr().err


def _notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_failing_notebook_does_not_stop_the_others(tmp_path):
    _notebook(tmp_path / "01_fails.ipynb", "raise ValueError(f'bad x={x}')")
    _notebook(tmp_path / "02_works.ipynb", "print('fine', x)")
    results = run_course(notebooks_dir=tmp_path, output_dir=tmp_path / "out")
    assert results["02_works"]["error"] is None
    assert "cell 2" in results["01_fails"]["error"] and "ValueError: bad x=1" in results["01_fails"]["error"]
    executed = nbformat.read(tmp_path / "out" / "02_works.ipynb", as_version=4)
    assert executed.metadata.papermill.input_path == "02_works.ipynb"  # no absolute path


@pytest.mark.parametrize("path", sorted(p for p in NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts), ids=lambda p: p.stem)
def test_notebook_has_literal_parameters_then_the_check(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(code[index].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), ast.dump(node)
    names = {node.targets[0].id for node in ast.parse(code[index].source).body}
    assert {"epochs", "batch_size", "lr", "seed", "device", "data_dir", "quick"} <= names
    assert "check_params(" in code[index + 1].source
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code)
    assert "/work/" not in json.dumps(nb) and "../shared" not in json.dumps(nb)


def test_command_exits_non_zero_naming_the_failed_notebook_and_cell(monkeypatch, tmp_path, capsys):
    import mnist_course.course as course

    def fake_run(steps, **kwargs):
        return {"01_setup": {"error": None, "seconds": 1.0},
                "02_skeleton": {"error": "cell 5: FloatingPointError: training diverged", "seconds": 2.0}}

    monkeypatch.setattr(course, "run_course", fake_run)
    monkeypatch.setattr(course, "default_reports_dir", lambda quick=False: tmp_path)
    assert course.main(["--quick"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 notebooks failed" in err and "02_skeleton: cell 5: FloatingPointError" in err


def test_an_epochs_override_records_beside_the_executed_copies(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_COURSE_REPORTS_DIR", raising=False)
    _notebook(tmp_path / "01_env.ipynb", "import os; print(os.environ['MNIST_COURSE_REPORTS_DIR'], epochs)")
    nb = nbformat.read(tmp_path / "01_env.ipynb", as_version=4)
    nb.cells[0].source = "epochs = 15"
    nbformat.write(nb, tmp_path / "01_env.ipynb")
    results = run_course(epochs=2, notebooks_dir=tmp_path, output_dir=tmp_path / "out")
    assert results["01_env"]["error"] is None
    executed = nbformat.read(tmp_path / "out" / "01_env.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0].text.strip() == f"{tmp_path / 'out' / 'reports'} 2"
    with pytest.raises(ValueError, match="--in-place with --quick or --epochs is refused"):
        run_course(epochs=2, in_place=True, notebooks_dir=tmp_path)
