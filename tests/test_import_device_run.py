"""scripts/import_device_run.py: a recording from another machine (a GPU) is admitted into
reports/<name>/ only when it is that run's, full, and of the recorded recipe and seeds."""

import copy
import importlib.util
import json
from datetime import datetime, timedelta

import pytest

from mnist_course.engine.paths import REPO_ROOT, recorded_reports_dir
from mnist_course.engine.reporting import load_reports

spec = importlib.util.spec_from_file_location("import_device_run", REPO_ROOT / "scripts" / "import_device_run.py")
import_device_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_device_run)

RECORDED = json.loads((recorded_reports_dir() / "04_capacity.json").read_text())
FINISHED = datetime(2026, 1, 2, 3, 4, 5).astimezone()


def make_run(tmp_path, report: dict, seconds: float = 300.0, parameters: dict | None = None):
    """A repository copy as the course command leaves it on the other machine."""
    run_dir = tmp_path / "run"
    (run_dir / "reports").mkdir(parents=True)
    (run_dir / "runs").mkdir()
    (run_dir / "reports" / "04_capacity.json").write_text(json.dumps(report))
    progress = {"settings": {"parameters": parameters or {}, "in_place": False, "recording": True},
                "done": {"04_capacity": {"error": None, "seconds": seconds, "finished_at": FINISHED.isoformat()}}}
    (run_dir / "runs" / "course_progress.json").write_text(json.dumps(progress))
    return run_dir


def gpu_report(**changes) -> dict:
    report = {**copy.deepcopy(RECORDED), "device": "Some GPU",
              "finished_at": (FINISHED - timedelta(seconds=10)).isoformat()}
    report.update(changes)
    return report


def test_a_run_of_the_recorded_recipe_is_imported_with_its_timings(tmp_path):
    target = tmp_path / "reports" / "gpu"
    course = import_device_run.import_run(make_run(tmp_path, gpu_report()), target, recorded_reports_dir())
    assert course["notebooks"]["04_capacity"]["seconds"] == 300.0 and course["device"] == "Some GPU"
    assert json.loads((target / "course_run.json").read_text()) == course
    assert [r["device"] for r in load_reports(target)] == ["Some GPU"]
    assert (target / "summary.md").is_file() and (target / "params_vs_accuracy.png").is_file()


@pytest.mark.parametrize("changes, message", [
    ({"finished_at": (FINISHED - timedelta(days=1)).isoformat()}, "stale copy"),  # the copy's old report
    ({"quick": True}, "quick run"),
    ({"params": RECORDED["params"] + 1}, "params differ"),
    ({"seeds": [11, 12, 13, 14, 15]}, "seeds differ"),
    ({"config": {**RECORDED["config"], "lr": 0.05}}, "config"),
])
def test_a_report_that_is_not_that_runs_recording_of_the_recipe_is_refused(tmp_path, changes, message):
    target = tmp_path / "gpu"
    with pytest.raises(ValueError, match=message):
        import_device_run.import_run(make_run(tmp_path, gpu_report(**changes)), target, recorded_reports_dir())
    assert not target.exists(), "nothing is written when a report is refused"


def test_a_run_with_overrides_is_refused(tmp_path):
    run_dir = make_run(tmp_path, gpu_report(), parameters={"epochs": 3})
    with pytest.raises(ValueError, match="overrides"):
        import_device_run.import_run(run_dir, tmp_path / "gpu", recorded_reports_dir())


@pytest.mark.records
def test_the_committed_gpu_recording_is_of_the_recorded_recipes_and_seeds():
    """reports/gpu/: each report was written during its notebook's run on the GPU and
    trained what reports/ records; a changed recipe leaves it stale, and this says so."""
    folder = recorded_reports_dir() / "gpu"
    if not folder.is_dir():
        pytest.skip("no GPU recording committed")
    course = json.loads((folder / "course_run.json").read_text())
    reports = load_reports(folder)
    assert sorted(r["notebook"].split("-")[0] for r in reports) == sorted(course["notebooks"])
    for report in reports:
        done = course["notebooks"][report["notebook"].split("-")[0]]
        finished = datetime.fromisoformat(done["finished_at"])
        recorded = json.loads((recorded_reports_dir() / f"{report['notebook']}.json").read_text())
        import_device_run.check_report(report, recorded, finished - timedelta(seconds=done["seconds"]), finished)
        assert report["device"] != recorded["device"], report["notebook"]
