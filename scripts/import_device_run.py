"""Bring a course recording made on another machine (a GPU, say) into reports/<name>/.

    python scripts/import_device_run.py RUN_DIR                # -> reports/gpu/
    python scripts/import_device_run.py RUN_DIR --name h200    # -> reports/h200/

RUN_DIR is the repository copy on that machine after

    python -m mnist_course.apps.benchmark --output runs/<name>/benchmark.md     # optional
    python -m mnist_course --steps ... --resume                     # a recording

(copied back whole or as an archive of its reports/ and runs/). The notebooks that the
course command finished there (``runs/course_progress.json``) are imported: their JSON
reports and curves, a ``course_run.json`` with each notebook's seconds on that machine,
``summary.md`` and ``params_vs_accuracy.png`` for the folder, and the benchmark (its
quote of a course run replaced by this one's, since the copy quoted the course run
recorded here). reports/ itself, the course's record, is left as it is.

Refused, naming the notebook: a report that is not of that run (written before the
notebook started or after it finished: a stale copy), a quick or override run, or one
whose recipe (model, parameters, config, epochs) differs from the recording in
reports/, or that trained a seed the recording does not have: the other machine must
train what the course records (all of its seeds, or some of them), so that the two can
be compared.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from mnist_course.apps.benchmark import render
from mnist_course.engine.paths import atomic_write_text, recorded_reports_dir
from mnist_course.engine.reporting import write_summary
from mnist_course.engine.training import config_from_record

SAME_RECIPE = ("model", "params", "epochs", "train_images", "test_images")  # and the config and seeds, below


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _training(report: dict) -> tuple:
    """(config with seed 1, augment, extras) of a report."""
    config, augment, extras = config_from_record(report)
    return replace(config, seed=1), augment, extras


def check_report(report: dict, recorded: dict | None, started: datetime, finished: datetime) -> None:
    """Raise ValueError unless ``report`` is a full recording, written while its notebook
    ran (between ``started`` and ``finished``, 5 s of slack for rounding), of the same
    recipe as ``recorded`` (the report in reports/)."""
    name = report["notebook"]
    if recorded is None:
        raise ValueError(f"{name}: reports/ has no recording of this notebook to compare with")
    written = _time(report["finished_at"])
    slack = timedelta(seconds=5)
    if not started - slack <= written <= finished + slack:
        raise ValueError(f"{name}: its report was written at {report['finished_at']}, outside the notebook's run "
                         f"({started.isoformat()} to {finished.isoformat()}): a stale copy, not this run's")
    if report["quick"]:
        raise ValueError(f"{name}: a quick run; import full recordings only")
    differs = [key for key in SAME_RECIPE if report.get(key) != recorded.get(key)]
    # Seeds: those of the record or some of them (a GPU recording of seeds 1-5 stays one of
    # the 10-seed record's recipe); a seed the record does not have is another experiment.
    if not set(report.get("seeds", [])) <= set(recorded.get("seeds", [])):
        differs.append("seeds")
    # Read by training.config_from_record: records of either form, fields added since a
    # recording at their defaults; the seed is per run.
    if _training(report) != _training(recorded):
        differs.insert(0, "config")
    if differs:
        raise ValueError(f"{name}: {', '.join(differs)} differ from reports/{name}.json; the other machine must "
                         "train the recorded recipe (record again here or there)")


def import_run(run_dir: Path, target: Path, recorded_dir: Path) -> dict:
    """Copy the finished notebooks of the course run in ``run_dir`` into ``target`` (see
    the module docstring). Returns the written course_run.json's content. Raises
    FileNotFoundError without a progress file, ValueError for a report ``check_report``
    refuses; nothing is written then."""
    progress_path = run_dir / "runs" / "course_progress.json"
    if not progress_path.is_file():
        raise FileNotFoundError(f"{progress_path} does not exist: RUN_DIR must hold the course command's runs/ and "
                                "reports/ from the other machine")
    progress = json.loads(progress_path.read_text())
    if not progress["settings"].get("recording") or progress["settings"].get("parameters"):
        raise ValueError(f"{progress_path} is of a run with overrides {progress['settings']}; import recordings only")
    reports: dict[str, list[tuple[Path, dict]]] = {}
    for name, done in progress["done"].items():
        finished = _time(done["finished_at"])
        started = finished - timedelta(seconds=done["seconds"])
        found = [path for path in sorted((run_dir / "reports").glob(f"{name}*.json"))
                 if path.stem == name or path.stem.startswith(f"{name}-")]
        if not found:
            raise ValueError(f"{name}: finished in {progress_path} but no reports/{name}*.json in {run_dir}")
        reports[name] = []
        for path in found:
            report = json.loads(path.read_text())
            recorded_path = recorded_dir / path.name
            recorded = json.loads(recorded_path.read_text()) if recorded_path.is_file() else None
            check_report(report, recorded, started, finished)
            reports[name].append((path, report))
    target.mkdir(parents=True, exist_ok=True)
    for paths in reports.values():
        for path, _ in paths:
            shutil.copyfile(path, target / path.name)
            curves = path.with_name(f"{path.stem}_curves.png")
            if curves.is_file():
                shutil.copyfile(curves, target / curves.name)
    devices = sorted({report["device"] for paths in reports.values() for _, report in paths})
    course = {"notebooks": {name: {"error": None, "seconds": done["seconds"], "finished_at": done["finished_at"]}
                            for name, done in progress["done"].items()},
              "total_seconds": round(sum(done["seconds"] for done in progress["done"].values()), 1),
              "device": ", ".join(devices), "device_override": None,
              "finished_at": max(done["finished_at"] for done in progress["done"].values())}
    atomic_write_text(target / "course_run.json", json.dumps(course, indent=1) + "\n")
    benchmark = sorted((run_dir / "runs").glob("*/benchmark.json"))
    if benchmark:
        result = {**json.loads(benchmark[0].read_text()), "recorded_course": course}
        atomic_write_text(target / "benchmark.json", json.dumps(result, indent=1) + "\n")
        # render() names reports/course_run.json; here the quoted run is this folder's.
        text = render(result).replace("`reports/course_run.json`", f"`reports/{target.name}/course_run.json`")
        atomic_write_text(target / "benchmark.md", text)
    write_summary(target)
    return course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the repository copy on the other machine, after its recording")
    parser.add_argument("--name", default="gpu", help="folder under reports/ (default: gpu)")
    args = parser.parse_args(argv)
    if not args.name.replace("_", "").replace("-", "").isalnum() or args.name in ("ablations", "unseen"):
        parser.error(f"--name {args.name!r}: use letters, digits, '-' and '_', not ablations or unseen")
    try:
        course = import_run(args.run_dir, recorded_reports_dir() / args.name, recorded_reports_dir())
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    print(f"reports/{args.name}/: {len(course['notebooks'])} notebooks on {course['device']} "
          f"({course['total_seconds'] / 60:.1f} min); refresh the README with `python scripts/update_readme.py`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
