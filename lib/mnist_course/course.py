"""Run the whole course headlessly: every step notebook through papermill.

    python -m mnist_course.course                 # all steps, full runs, results in reports/
    python -m mnist_course.course --steps 04 --epochs 3 --device cpu
    python -m mnist_course.course --quick         # a quick check; reports go to a temp folder
    python -m mnist_course.course --reference     # the steps, then the reference set-ups
    python -m mnist_course.course --steps r2      # one reference notebook

Executed copies go to ``runs/`` (git-ignored) unless ``--in-place`` is given, which
writes them over ``notebooks/`` (how the committed notebooks get their outputs).
A notebook that fails does not stop the others; the command then exits with 1 and
names the failed notebook and cell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .data import REPO_ROOT
from .reporting import atomic_write_text, default_reports_dir, load_reports, summary_table, update_readme_results

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def step_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The step notebooks by name ("01_setup" ...): ``notebooks/NN_*.ipynb``, in order."""
    return {p.stem: p for p in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))}


def reference_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The reference set-up notebooks by name ("r1_pytorch_example" ...): ``notebooks/reference/rN_*.ipynb``."""
    return {p.stem: p for p in sorted((notebooks_dir / "reference").glob("r[0-9]_*.ipynb"))}


def select_steps(requested: list[str] | None, available: dict[str, Path]) -> list[str]:
    """Notebook names for ``requested`` items, each a full name ("04_capacity") or its
    prefix ("04", "4" or "r2"). Raises ValueError listing the valid names."""
    if not requested:
        return list(available)
    chosen = []
    for item in requested:
        prefix = f"{int(item):02d}" if item.isdigit() else item.lower()
        matches = [name for name in available if item == name or name.split("_")[0] == prefix]
        if not matches:
            raise ValueError(f"unknown step {item!r}; valid: {', '.join(available)} (or their numbers)")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def run_course(steps: list[str] | None = None, *, epochs: int | None = None, device: str | None = None,
               data_dir: str | None = None, quick: bool = False, in_place: bool = False,
               output_dir: Path | None = None, notebooks_dir: Path = NOTEBOOKS_DIR,
               reference: bool = False) -> dict[str, dict]:
    """Execute notebooks with papermill: the step notebooks (plus the reference set-ups
    with ``reference``), or those named in ``steps`` (steps or reference notebooks).

    Returns {notebook name: {"error": None or "cell N: Error: message", "seconds": wall-clock}}.

    Only the overrides given are passed as papermill parameters, so a run without
    overrides leaves the notebooks' own parameters cells as they are.
    """
    available = {**step_notebooks(notebooks_dir), **reference_notebooks(notebooks_dir)}
    if steps:
        names = select_steps(steps, available)
    else:
        names = list(step_notebooks(notebooks_dir)) + (list(reference_notebooks(notebooks_dir)) if reference else [])
    if in_place and (quick or epochs is not None):
        raise ValueError("--in-place with --quick or --epochs is refused: committed notebooks carry full runs only")
    parameters = {"quick": True} if quick else {}
    if epochs is not None:
        parameters["epochs"] = epochs
    if device is not None:
        parameters["device"] = device
    if data_dir is not None:
        parameters["data_dir"] = str(Path(data_dir).expanduser().resolve())
    output_dir = Path(output_dir) if output_dir else REPO_ROOT / "runs"
    # Kernels inherit the environment: quick mode follows the flag, not a leftover
    # variable, and a run with fewer or more epochs than the notebooks' own records its
    # reports beside its executed copies instead of over the recorded ones in reports/.
    env = {"MNIST_COURSE_QUICK": "1" if quick else "0"}
    if epochs is not None and "MNIST_COURSE_REPORTS_DIR" not in os.environ:
        env["MNIST_COURSE_REPORTS_DIR"] = str(output_dir / "reports")
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return _execute(names, available, parameters, in_place, output_dir, notebooks_dir)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute(names, available, parameters, in_place, output_dir, notebooks_dir):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    results = {}
    for name in names:
        source = available[name]
        target = source if in_place else output_dir / source.relative_to(notebooks_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"=== {name}: running {source.relative_to(notebooks_dir)} -> {target.name}", flush=True)
        start = time.perf_counter()
        error = None
        try:
            pm.execute_notebook(str(source), str(target), parameters=parameters or None, cwd=str(source.parent),
                                progress_bar=False, log_output=False, kernel_name="python3")
        except PapermillExecutionError as e:
            error = f"cell {e.exec_count}: {e.ename}: {e.evalue}"
        except Exception as e:  # kernel died, notebook unreadable, ...
            error = f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - start
        if target.is_file():
            _relative_paths(target)
        results[name] = {"error": error, "seconds": round(seconds, 1)}
        print(f"=== {name}: " + (f"FAILED after {seconds:.0f} s in {error}" if error else f"done in {seconds:.0f} s"),
              flush=True)
    return results


def _relative_paths(notebook: Path) -> None:
    """Papermill records absolute input/output paths in the notebook's metadata; keep
    them relative to the repository so no machine-specific path is committed."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key):
            path = Path(meta[key]).resolve()
            meta[key] = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else path.name
    nbformat.write(nb, notebook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course.course", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", nargs="+", help="notebooks to run, e.g. 01 04 r2 or 02_skeleton (default: all steps)")
    parser.add_argument("--reference", action="store_true", help="also run the reference set-ups (notebooks/reference/)")
    parser.add_argument("--epochs", type=int, help="override every notebook's epochs")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default: the notebooks' 'auto')")
    parser.add_argument("--data-dir", help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--quick", action="store_true", help="a slice of the data for one epoch; reports to a temp folder")
    parser.add_argument("--in-place", action="store_true", help="write executed notebooks over notebooks/ (full runs only)")
    parser.add_argument("--output-dir", type=Path, help="folder for executed copies (default: runs/)")
    args = parser.parse_args(argv)
    try:
        results = run_course(args.steps, epochs=args.epochs, device=args.device, data_dir=args.data_dir,
                             quick=args.quick, in_place=args.in_place, output_dir=args.output_dir,
                             reference=args.reference)
    except ValueError as e:
        parser.error(str(e))
    reports_dir = default_reports_dir(args.quick)
    if args.epochs is not None and "MNIST_COURSE_REPORTS_DIR" not in os.environ:
        reports_dir = (args.output_dir or REPO_ROOT / "runs") / "reports"
    total = sum(r["seconds"] for r in results.values())
    if not args.quick and args.epochs is None and not args.steps and not args.reference:  # a whole course run
        atomic_write_text(reports_dir / "course_run.json", json.dumps({
            "notebooks": results, "total_seconds": round(total, 1), "epochs_override": args.epochs,
            "device_override": args.device, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }, indent=1) + "\n")
    print(f"\nResults ({reports_dir}; {len(results)} notebooks in {total / 60:.1f} min):\n")
    print(summary_table([r for r in load_reports(reports_dir) if r["notebook"] in results]))
    if not args.quick and reports_dir == REPO_ROOT / "reports" and update_readme_results(REPO_ROOT / "README.md", reports_dir):
        print("\nREADME.md results table updated from reports/.")
    failed = {name: r["error"] for name, r in results.items() if r["error"]}
    if failed:
        print(f"\n{len(failed)} of {len(results)} notebooks failed:", file=sys.stderr)
        for name, err in failed.items():
            print(f"  {name}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
