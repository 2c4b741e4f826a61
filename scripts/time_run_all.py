"""Time "Run All" of every notebook as a learner's first run, and record the seconds.

    python scripts/time_run_all.py                       # every notebook -> reports/run_all.json
    python scripts/time_run_all.py --only 04 r2          # some of them (merged into the record)

Each notebook runs with its own parameters cell (what Run All uses: one seed, the
committed search record and teacher weights), full data, through papermill from its
folder, into ``runs/run_all/`` (git-ignored); what it records goes to ``runs/reports/``
as any direct run's does, never to ``reports/``. Run it in a fresh clone (empty
``runs/``), so no seed, teacher or search trial is replayed from an earlier run: the
seconds are then what a learner's first Run All costs on this machine. The record
(``reports/run_all.json`` unless ``--output``) holds, per notebook, its wall-clock seconds
(kernel start to last cell) and any error, with the machine (CPU, threads, torch) and the
commit; it is resumable: a notebook already timed without error is skipped unless named
in ``--only``. ``tests/test_lesson.py`` reads it: every notebook within ten minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from mnist_course.apps.runner import NOTEBOOKS_DIR, all_notebooks, execute, select_steps
from mnist_course.engine.paths import REPO_ROOT, atomic_write_text, recorded_reports_dir, runs_dir
from mnist_course.engine.settings import quick_from_env

LIMIT_SECONDS = 600  # what a learner's patience allows (issue "The lesson first": ten minutes)


def machine() -> dict:
    """The CPU and software the seconds were measured on."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    return {"device": f"cpu ({torch.get_num_threads()} threads)", "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "commit": commit or None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", help="notebook names or prefixes (04, x04, r2, a04, conclusion)")
    parser.add_argument("--output", type=Path, default=recorded_reports_dir() / "run_all.json")
    args = parser.parse_args(argv)
    if quick_from_env():
        parser.error("MNIST_COURSE_QUICK is set: Run All would train on a slice; unset it")
    available = all_notebooks()
    try:
        names = select_steps(args.only, available) if args.only else list(available)
    except ValueError as e:
        parser.error(str(e))
    record = json.loads(args.output.read_text()) if args.output.is_file() else {"notebooks": {}}
    for name in names:
        done = record["notebooks"].get(name)
        if done and done["error"] is None and not args.only:
            print(f"{name}: timed earlier, {done['seconds']:.0f} s; skipped", flush=True)
            continue
        path = available[name]
        result = execute(name, path, runs_dir() / "run_all" / path.relative_to(NOTEBOOKS_DIR), {})
        record["notebooks"][name] = {"path": str(path.relative_to(REPO_ROOT)), **result, **machine()}
        record["limit_seconds"] = LIMIT_SECONDS
        atomic_write_text(args.output, json.dumps(record, indent=1) + "\n")
    failed = [n for n in names if record["notebooks"][n]["error"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
