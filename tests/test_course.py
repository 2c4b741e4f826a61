"""The course command: choosing steps, surviving a failed notebook, notebook hygiene."""

import ast
import json
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

import mnist_course.apps.runner
from mnist_course.apps.runner import (
    NOTEBOOKS_DIR,
    _promote,
    ablation_notebooks,
    main,
    recording_seeds,
    reference_notebooks,
    run_course,
    select_steps,
    step_notebooks,
)
from mnist_course.engine.reporting import build_report, save_report
from mnist_course.engine.results import summarize_run


def test_the_steps_are_found_in_order():
    assert list(step_notebooks()) == ["01_setup", "02_skeleton", "03_batchnorm", "04_capacity", "05_search",
                                      "06_teacher", "07_stretch"]


def test_the_five_reference_set_ups_are_found():
    assert list(reference_notebooks()) == ["r1_pytorch_example", "r2_wide_593k", "r3_fcnn_vs_cnn", "r4_is_it_a_three",
                                           "r5_tiny_3762"]


def test_seeds_override_is_refused_only_for_single_seed_notebooks(monkeypatch):
    ran = []
    monkeypatch.setattr(mnist_course.apps.runner, "execute", lambda name, *a: ran.append(name) or {"error": "not run"})
    with pytest.raises(ValueError, match="--seeds needs.*r3_fcnn_vs_cnn, r4_is_it_a_three train one seed"):
        run_course(["r2", "r3", "r4"], seeds=[3])
    assert ran == []  # refused before anything ran
    run_course(["r1", "r2"], seeds=[3])  # both have a `seeds` parameter
    assert ran == ["r1_pytorch_example", "r2_wide_593k"]


def test_a_recording_injects_each_steps_recorded_seeds(monkeypatch):
    """A learner's Run All trains the parameters cell's one seed; the course command's
    recording trains seeds 1-10 for a goal step and 1-5 for the others (papermill's
    injected-parameters cell), seeds 1-10 into reference 5 (RECORDED_REFERENCE_SEEDS), which
    the goal's rule judges, 1-3 and 1-2 into references 1 and 2, and nothing into the
    single-seed reference notebooks."""
    monkeypatch.delenv("MNIST_COURSE_QUICK", raising=False)
    assert recording_seeds("04_capacity") == list(range(1, 11))
    assert recording_seeds("03_batchnorm") == [1, 2, 3, 4, 5]
    assert recording_seeds("r1_pytorch_example") == [1, 2, 3] and recording_seeds("r2_wide_593k") == [1, 2]
    assert recording_seeds("r3_fcnn_vs_cnn") is None and recording_seeds("no_such") is None
    assert recording_seeds("r5_tiny_3762") == list(range(1, 11))
    given = {}
    monkeypatch.setattr(mnist_course.apps.runner, "execute",
                        lambda name, source, target, parameters, *a: given.update({name: parameters}) or
                        {"error": "not run"})
    run_course(["03", "04", "r1", "r2", "r5"], output_dir=Path("/nonexistent-out"))
    assert given["03_batchnorm"]["seeds"] == [1, 2, 3, 4, 5] and given["04_capacity"]["seeds"] == list(range(1, 11))
    assert given["r1_pytorch_example"]["seeds"] == [1, 2, 3]
    assert given["r5_tiny_3762"]["seeds"] == list(range(1, 11))
    # reference 2's Run All trains 2 epochs (ten minutes on a 2-core CPU); its recording the published 20
    assert given["r2_wide_593k"] == {"seeds": [1, 2], "epochs": 20}
    run_course(["r4"], output_dir=Path("/nonexistent-out"))  # one seed (its `seed`), the published 50 epochs
    assert given["r4_is_it_a_three"] == {"epochs": 50}
    assert pm.inspect_notebook(str(NOTEBOOKS_DIR / "reference" / "r4_is_it_a_three.ipynb"))["epochs"]["default"] == "10"
    assert pm.inspect_notebook(str(NOTEBOOKS_DIR / "reference" / "r2_wide_593k.ipynb"))["epochs"]["default"] == "2"
    assert all("epochs" not in given[name] for name in ("03_batchnorm", "04_capacity", "r1_pytorch_example"))
    run_course(["04", "r2"], seeds=[3], output_dir=Path("/nonexistent-out"))  # an override is not a recording
    assert given["04_capacity"]["seeds"] == [3] and "epochs" not in given["r2_wide_593k"]


@pytest.mark.records
def test_the_ablation_notebooks_show_every_recorded_ablation():
    """notebooks/ablations/: one per step with ablations, found as a04_capacity ...; together
    they show every ablation recorded in reports/ablations/ (the evidence one click away)."""
    found = ablation_notebooks()
    assert list(found) == ["a04_capacity", "a05_search", "a06_teacher"]
    assert select_steps(["a04"], {**step_notebooks(), **found}) == ["a04_capacity"]
    assert select_steps(["04"], {**step_notebooks(), **found}) == ["04_capacity"]
    shown = set()
    for path in found.values():
        nb = nbformat.read(path, as_version=4)
        shown |= {call.args[0].value for cell in nb.cells if cell.cell_type == "code" and "show_ablation" in cell.source
                  for call in ast.walk(ast.parse(cell.source))
                  if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "show_ablation"}
    recorded = {p.stem for p in (NOTEBOOKS_DIR.parent / "reports" / "ablations").glob("*.json")}
    assert recorded - {"02_skeleton", "03_batchnorm"} <= shown, "recorded ablations no ablation notebook shows"


def test_steps_by_number_or_name_and_unknown_names_listed():
    available = {**step_notebooks(), **reference_notebooks()}
    assert select_steps(["4", "01_setup", "R2"], available) == ["04_capacity", "01_setup", "r2_wide_593k"]
    assert select_steps(None, available) == list(available)
    with pytest.raises(ValueError, match="'09'.*01_setup, 02_skeleton, 03_batchnorm, 04_capacity"):
        select_steps(["09"], available)


def test_unknown_step_on_the_command_line_exits_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--steps", "nine"])
    assert exit_.value.code == 2 and "04_capacity" in capsys.readouterr().err


def _notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_failing_notebook_does_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_COURSE_QUICK", raising=False)
    _notebook(tmp_path / "01_fails.ipynb", "raise ValueError(f'bad x={x}')")
    _notebook(tmp_path / "02_works.ipynb", "print('fine', x)")
    results = run_course(epochs=1, notebooks_dir=tmp_path, output_dir=tmp_path / "out")
    assert results["02_works"]["error"] is None
    # cell 3: the parameters, papermill's injected-parameters cell (epochs=1), then the failing cell
    assert "cell 3" in results["01_fails"]["error"] and "ValueError: bad x=1" in results["01_fails"]["error"]
    executed = nbformat.read(tmp_path / "out" / "02_works.ipynb", as_version=4)
    assert executed.metadata.papermill.input_path == "02_works.ipynb"  # no absolute path
    # what the run injected is shown as markdown: Run All of the executed copy uses the parameters cell
    record = [c for c in executed.cells if "injected-parameters-record" in c.metadata.get("tags", [])]
    assert len(record) == 1 and record[0].cell_type == "markdown" and "epochs = 1" in record[0].source
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code")


STEP_PARAMETERS = {"epochs", "batch_size", "lr", "seeds", "device", "data_dir", "reports_dir", "quick"}
REFERENCE_PARAMETERS = {"epochs", "batch_size", "lr", "device", "data_dir", "quick"}  # and seed or seeds
SEARCH_PARAMETERS = {"budgets", "trials", "epochs", "seeds", "storage", "device", "data_dir", "reports_dir", "quick"}
ABLATIONS_PARAMETERS = {"epochs", "seeds", "device", "data_dir", "quick"}  # quick mode only
EXERCISE_PARAMETERS = {"epochs", "train_images", "seed", "device", "data_dir", "quick"}


ALL_NOTEBOOKS = sorted(p for p in NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_literal_parameters_then_the_check(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    names = set()
    for node in ast.parse(code[index].source).body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), ast.dump(node)
        ast.literal_eval(node.value)  # a literal (number, string, list, None), nothing computed
        names.add((node.target if isinstance(node, ast.AnnAssign) else node.targets[0]).id)
    if path.stem == "conclusion":  # reads the records, trains nothing
        assert names == {"reports_dir"} and "raise ValueError" in code[index + 1].source
        assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code)  # the figures match reports/
        return
    is_step = path.parent == NOTEBOOKS_DIR
    is_search = "budgets" in names  # Step 5: a search over parameter budgets, not one training
    is_ablations, is_exercise = path.parent.name == "ablations", path.parent.name == "exercises"
    assert (SEARCH_PARAMETERS if is_search else STEP_PARAMETERS if is_step else ABLATIONS_PARAMETERS if is_ablations
            else EXERCISE_PARAMETERS if is_exercise else REFERENCE_PARAMETERS) <= names
    assert is_step or len(names & {"seed", "seeds"}) == 1
    if is_step or is_ablations or is_exercise:  # typed, so that `papermill --help-notebook` shows the types
        assert all(isinstance(node, ast.AnnAssign) for node in ast.parse(code[index].source).body)
    assert ("check_search(" if is_search else "check_params(") in code[index + 1].source
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code)
    assert "/work/" not in json.dumps(nb) and "../shared" not in json.dumps(nb)


def test_command_exits_non_zero_naming_the_failed_notebook_and_cell(monkeypatch, tmp_path, capsys):
    def fake_run(steps, **kwargs):
        return {"01_setup": {"error": None, "seconds": 1.0},
                "02_skeleton": {"error": "cell 5: FloatingPointError: training diverged", "seconds": 2.0}}

    monkeypatch.setattr(mnist_course.apps.runner, "run_course", fake_run)
    assert main(["--quick"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 notebooks failed" in err and "02_skeleton: cell 5: FloatingPointError" in err


def test_an_epochs_override_records_beside_the_executed_copies(tmp_path):
    _notebook(tmp_path / "01_env.ipynb", "print(reports_dir, epochs, quick)")
    nb = nbformat.read(tmp_path / "01_env.ipynb", as_version=4)
    nb.cells[0].source = "epochs = 15\nreports_dir = None\nquick = None"
    nbformat.write(nb, tmp_path / "01_env.ipynb")
    results = run_course(epochs=2, notebooks_dir=tmp_path, output_dir=tmp_path / "out",
                         recorded_dir=tmp_path / "recorded")
    assert results["01_env"]["error"] is None
    executed = nbformat.read(tmp_path / "out" / "01_env.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0].text.strip() == f"{tmp_path / 'out' / 'reports'} 2 False"
    assert not (tmp_path / "recorded").exists()  # an override run records nothing
    with pytest.raises(ValueError, match="--in-place with --quick, --epochs or --seeds is refused"):
        run_course(epochs=2, in_place=True, notebooks_dir=tmp_path)


REPORT_CELL = """
from mnist_course.engine.reporting import build_report, save_report
from mnist_course.engine.results import summarize_run
history = [{{"epoch": 1, "train_acc": 90.0, "test_acc": 98.0, "train_loss": 0.1, "test_loss": 0.1, "lr": 0.1}}]
save_report(build_report(step="S", notebook="{name}", model="M", params=1, quick=False, device="cpu", config={{}},
                         runs=[summarize_run(history, 1, 1.0)]), {trial!r})
{tail}
"""


def test_a_recording_copies_what_succeeded_into_reports_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MNIST_COURSE_QUICK", raising=False)
    trial, recorded = tmp_path / "trial", tmp_path / "recorded"
    _notebook(tmp_path / "01_good.ipynb", REPORT_CELL.format(name="01_good", trial=str(trial), tail=""))
    _notebook(tmp_path / "02_bad.ipynb", REPORT_CELL.format(name="02_bad", trial=str(trial), tail="1 / 0"))
    kwargs = dict(notebooks_dir=tmp_path, output_dir=tmp_path / "out", recorded_dir=recorded, trial_dir=trial)
    first = run_course(**kwargs)
    assert first["01_good"]["error"] is None and "ZeroDivisionError" in first["02_bad"]["error"]
    assert sorted(p.name for p in recorded.iterdir()) == ["01_good.json", "params_vs_accuracy.png", "summary.md"]
    assert "| 01_good |" in (recorded / "summary.md").read_text()  # the failed notebook's report stays out
    second = run_course(resume=True, **kwargs)
    assert second["01_good"].get("skipped") and not second["02_bad"].get("skipped")
    assert "01_good: done in an earlier run with the same settings (--resume); skipped" in capsys.readouterr().out
    third = run_course(resume=True, device="cpu", **kwargs)  # other settings: starts over
    assert not third["01_good"].get("skipped")


def test_a_recording_refuses_a_shell_in_quick_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_QUICK", "1")
    with pytest.raises(ValueError, match="MNIST_COURSE_QUICK is set"):
        run_course(notebooks_dir=tmp_path, output_dir=tmp_path / "out", recorded_dir=tmp_path / "rec")


def test_promote_copies_only_this_notebooks_full_reports_of_this_run(tmp_path):
    trial, recorded = tmp_path / "trial", tmp_path / "recorded"
    history = [{"epoch": 1, "train_acc": 90.0, "test_acc": 98.0, "train_loss": 0.1, "test_loss": 0.1, "lr": 0.1}]

    def report(notebook, quick=False):
        save_report(build_report(step="S", notebook=notebook, model="M", params=1, quick=quick, device="cpu",
                                 config={}, runs=[summarize_run(history, 1, 1.0)]), trial)
        (trial / f"{notebook}_curves.png").write_bytes(b"png")

    report("01_old")
    since = (trial / "01_old.json").stat().st_mtime + 0.001
    os.utime(trial / "01_old.json", (since - 10, since - 10))  # written before this run started
    for name in ("01_good", "01_good-part", "01_goodbye", "01_good_extra"):
        report(name)
    report("01_quick", quick=True)
    recorded.mkdir()
    (trial / "01_good-part_history.png").write_bytes(b"png")  # a search's figures (Step 5)
    (trial / "01_good-part_notes.png").write_bytes(b"png")  # not a report figure: not copied
    (trial / "01_good_front.png").write_bytes(b"png")  # a figure of the whole notebook (Step 5's front)
    (trial / "01_goodbye_front.png").write_bytes(b"png")  # another notebook's: not copied
    for stale in ("01_good-gone.json", "01_good-gone_curves.png", "01_good-gone_importances.png",
                  "01_goodbye.json", "01_goodbye_front.png"):  # from an earlier recording
        (recorded / stale).write_text("{}")
    copied = {p.name for p in _promote("01_good", trial, recorded, since)}
    assert not any((recorded / f"01_good-gone{end}").exists() for end in (".json", "_curves.png", "_importances.png"))
    assert (recorded / "01_goodbye.json").exists() and (recorded / "01_goodbye_front.png").exists()  # another's
    assert copied == {"01_good.json", "01_good_curves.png", "01_good-part.json", "01_good-part_curves.png",
                      "01_good-part_history.png", "01_good_front.png"}
    assert not _promote("01_old", trial, recorded, since) and not _promote("01_quick", trial, recorded, since)
    assert (recorded / "summary.md").is_file()


def test_quick_ablations_train_the_recipe_on_a_slice_and_record_nothing_in_reports(data_dir, tmp_path,
                                                                                   monkeypatch, capsys):
    monkeypatch.setattr(mnist_course.apps.runner, "quick_dir", lambda kind: tmp_path / kind)
    before = {p: p.stat().st_mtime_ns for p in (NOTEBOOKS_DIR.parent / "reports").rglob("*")}
    assert main(["--ablations", "--quick", "--steps", "04", "--data-dir", str(data_dir)]) == 0
    study = json.loads((tmp_path / "reports" / "ablations" / "04_capacity.json").read_text())
    assert [row["name"] for row in study["rows"]] == ["with dropout"] and study["seeds"] == [1]
    design = json.loads((tmp_path / "reports" / "ablations" / "04_capacity-design.json").read_text())
    assert [row["name"] for row in design["rows"]] == ["first design"]
    dropout = json.loads((tmp_path / "reports" / "ablations" / "04_capacity-dropout.json").read_text())
    assert [row["name"] for row in dropout["rows"]] == ["dropout 0.05"] and dropout["seeds"] == [1]
    assert study["train_images"] + study["val_images"] == 2_000
    assert "with dropout" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (NOTEBOOKS_DIR.parent / "reports").rglob("*")} == before


def test_ablations_refuse_notebook_flags_and_unknown_variants(capsys):
    with pytest.raises(SystemExit):
        main(["--ablations", "--in-place"])
    assert "--ablations takes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--ablations", "--steps", "04", "--variants", "nope", "--quick"])
    assert "'nope'" in capsys.readouterr().err
