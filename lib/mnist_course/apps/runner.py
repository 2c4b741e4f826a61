"""Run the whole course headlessly: every step notebook through papermill.

    python -m mnist_course                          # all steps, full runs, recorded in reports/
    python -m mnist_course --in-place               # the same, executed notebooks over notebooks/
    python -m mnist_course --resume                 # continue an interrupted recording
    python -m mnist_course --steps 04 --epochs 3 --seeds 1 --device cpu
    python -m mnist_course --quick                  # a quick check; reports go to a temp folder
    python -m mnist_course --reference              # the steps, then the reference set-ups
    python -m mnist_course --steps r2               # one reference notebook
    python -m mnist_course --ablation-notebooks --steps a04 --in-place   # Step 4's ablations notebook
    python -m mnist_course --ablations --steps 04   # Step 4's ablation (validation split)

Who writes ``reports/``: only this command, and only for a **recording** (full data,
the notebooks' own epochs, the recorded seeds and published epochs of :func:`recording_parameters`).
Every notebook records to ``runs/reports/``
unless told otherwise; after a recorded notebook succeeds, this command copies what it
recorded into ``reports/`` and refreshes ``reports/summary.md``. A run with ``--quick``,
``--epochs`` or ``--seeds`` records only beside its executed copies (``runs/reports/``
or ``--output-dir``/reports). A direct papermill run or "Run All" never touches ``reports/``.

Executed copies go to ``runs/`` (git-ignored) unless ``--in-place`` is given, which
writes them over ``notebooks/`` (how the committed notebooks get their outputs).
A notebook that fails does not stop the others; the command then exits with 1 and
names the failed notebook and cell. ``--resume`` skips the notebooks that the
previous run with the same settings finished and that have not changed since
(``<output>/course_progress.json`` keeps a hash of each finished notebook).
``--ablations`` trains the ablations of the selected steps instead of running their notebooks
(:mod:`mnist_course.experiments.ablation`: each variant over 3 seeds on the validation split); a
recording writes ``reports/ablations/<name>.json`` and ``.png``,
and the per-run cache in ``runs/ablations/`` makes an interrupted ablation resumable.
The README's generated blocks are refreshed separately: ``python scripts/update_readme.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import papermill as pm
from papermill.exceptions import PapermillExecutionError

from ..engine.data import course_validation_split, load_mnist
from ..engine.paths import (
    REPO_ROOT,
    atomic_write_bytes,
    atomic_write_text,
    quick_dir,
    recorded_reports_dir,
    runs_dir,
    trial_reports_dir,
)
from ..engine.reporting import load_reports, summary_table, write_summary
from ..engine.results import GOAL_MIN_SEEDS, GOAL_STEPS
from ..engine.settings import QUICK_EPOCHS, QUICK_TRAIN_IMAGES, quick_from_env
from ..engine.training import resolve_device
from ..experiments.ablation import format_ablation_table, prime_cache, run_ablation, select_variants
from ..experiments.ablation_plans import ABLATIONS, SEEDS

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PROGRESS_FILE = "course_progress.json"


def step_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The step notebooks by name ("01_setup" ...): ``notebooks/NN_*.ipynb``, in order."""
    return {p.stem: p for p in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))}


def reference_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The reference set-up notebooks by name ("r1_pytorch_example" ...): ``notebooks/reference/rN_*.ipynb``."""
    return {p.stem: p for p in sorted((notebooks_dir / "reference").glob("r[0-9]_*.ipynb"))}


def conclusion_notebook(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The course's last notebook, ``notebooks/conclusion.ipynb``, by name ("conclusion"; {}
    when it is not there). It reads the step reports, so the course command runs it last."""
    path = notebooks_dir / "conclusion.ipynb"
    return {"conclusion": path} if path.is_file() else {}


def ablation_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The companion notebooks of the recorded ablations by name ("a04_capacity" ...):
    ``notebooks/ablations/NN_*.ipynb``. They show ``reports/ablations/`` and record nothing."""
    return {f"a{p.stem}": p for p in sorted((notebooks_dir / "ablations").glob("[0-9][0-9]_*.ipynb"))}


def exercise_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """The exercises that retrain, one per step, by name ("x01_setup" ...):
    ``notebooks/exercises/NN_*.ipynb``. Each trains a step and one change on a slice
    (``course.exercises``) and records nothing."""
    return {f"x{p.stem}": p for p in sorted((notebooks_dir / "exercises").glob("[0-9][0-9]_*.ipynb"))}


RECORDED_SEEDS = 5  # a step that claims no goal is recorded over seeds 1-5
# Reference set-ups recorded over seeds (the others train their published single seed):
# reference 1 over 3 seeds per set-up, reference 2 over 2 (most of an hour each on a
# 2-core CPU), reference 5, judged by the goal's rule, over GOAL_MIN_SEEDS seeds. Their
# parameters cells hold one seed, what a learner's Run All trains.
RECORDED_REFERENCE_SEEDS = {"r1_pytorch_example": 3, "r2_wide_593k": 2, "r5_tiny_3762": GOAL_MIN_SEEDS}
# Reference set-ups whose published epochs exceed a learner's Run All (ten minutes on a 2-core
# CPU; timings in docs/running.md): their parameters cell trains fewer (reference 2: 2, at the
# full learning rate; reference 4: 10, by when its test accuracy has settled), a recording these.
RECORDED_REFERENCE_EPOCHS = {"r2_wide_593k": 20, "r4_is_it_a_three": 50}


def all_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Path]:
    """Every notebook of the course by name: the steps, their exercises, the reference
    set-ups, the ablation notebooks and the conclusion."""
    return {**step_notebooks(notebooks_dir), **exercise_notebooks(notebooks_dir), **reference_notebooks(notebooks_dir),
            **ablation_notebooks(notebooks_dir), **conclusion_notebook(notebooks_dir)}


def recording_seeds(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[int] | None:
    """The seeds a recording of step notebook ``name`` trains, injected as its ``seeds``
    parameter: 1-10 (``results.GOAL_MIN_SEEDS``) for a goal step (``results.GOAL_STEPS``),
    1-5 for the other steps; ``RECORDED_REFERENCE_SEEDS`` for the reference set-ups recorded
    over seeds. None for a notebook without a ``seeds`` parameter and for the other
    reference and the ablation notebooks, which record with their own parameters cell.

    The recording's seeds are set here, in one place, so a step's parameters cell may hold
    one seed, what a learner's Run All trains (every step's does). After an in-place recording the
    injected cell becomes a markdown cell (:func:`keep_injected_as_record`), so Run All
    uses the parameters cell again."""
    if name in RECORDED_REFERENCE_SEEDS and name in reference_notebooks(notebooks_dir):
        return list(range(1, RECORDED_REFERENCE_SEEDS[name] + 1))
    path = step_notebooks(notebooks_dir).get(name)
    if path is None or "seeds" not in pm.inspect_notebook(str(path)):
        return None
    return list(range(1, (GOAL_MIN_SEEDS if name in GOAL_STEPS else RECORDED_SEEDS) + 1))


def recording_parameters(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict:
    """What a recording of notebook ``name`` injects: its ``seeds`` (:func:`recording_seeds`)
    and, for a reference set-up in ``RECORDED_REFERENCE_EPOCHS``, its published ``epochs``.
    Empty for a notebook that records with its own parameters cell."""
    seeds = recording_seeds(name, notebooks_dir)
    epochs = RECORDED_REFERENCE_EPOCHS.get(name) if name in reference_notebooks(notebooks_dir) else None
    return {**({"seeds": seeds} if seeds else {}), **({"epochs": epochs} if epochs else {})}


def select_steps(requested: list[str] | None, available: dict[str, Path]) -> list[str]:
    """Notebook names for ``requested`` items, each a full name ("04_capacity") or its
    prefix ("04", "4", "r2", "x04" for Step 4's exercise or "a04" for its ablations notebook). Raises
    ValueError listing the valid names."""
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


def run_course(steps: list[str] | None = None, *, epochs: int | None = None, seeds: list[int] | None = None,
               device: str | None = None, data_dir: str | None = None, quick: bool = False,
               in_place: bool = False, output_dir: Path | None = None, notebooks_dir: Path = NOTEBOOKS_DIR,
               reference: bool = False, resume: bool = False, recorded_dir: Path | None = None,
               trial_dir: Path | None = None, with_ablation_notebooks: bool = False) -> dict[str, dict]:
    """Execute notebooks with papermill: the step notebooks and their exercises (plus the
    reference set-ups with ``reference``, the ablation notebooks with
    ``with_ablation_notebooks``), then the conclusion, or those named in ``steps`` (steps,
    exercises, reference or ablation notebooks). An ablation notebook reads the recorded
    ablations, an exercise trains on a slice: both record nothing, so nothing is copied for them.

    A run without quick/epochs/seeds overrides is a recording: each notebook that
    succeeds has the full-data reports it wrote during this run in ``trial_dir`` copied
    into ``recorded_dir`` (default ``reports/``); a notebook that recorded nothing there
    counts as failed. ``trial_dir`` is where the notebooks record: their default,
    ``runs/reports/``, or, when not ``in_place``, a folder passed to them as ``reports_dir``.
    Returns {notebook name: {"error": None or "cell N: Error: message", "seconds":
    wall-clock, "skipped": True if ``resume`` found it already done}}.
    Raises ValueError for --in-place with overrides, for --seeds with a notebook that
    takes one seed (a `seed` parameter, not `seeds`), or for a recording while
    MNIST_COURSE_QUICK asks for quick mode.
    """
    shows_records, exercises = ablation_notebooks(notebooks_dir), exercise_notebooks(notebooks_dir)
    last = conclusion_notebook(notebooks_dir)
    available = all_notebooks(notebooks_dir)
    if steps:
        names = select_steps(steps, available)
    else:
        names = (list(step_notebooks(notebooks_dir)) + list(exercises)
                 + (list(reference_notebooks(notebooks_dir)) if reference else [])
                 + (list(shows_records) if with_ablation_notebooks else []) + list(last))
    recording = not quick and epochs is None and seeds is None
    single_seed = [name for name in names if "seeds" not in pm.inspect_notebook(str(available[name]))]
    if seeds is not None and single_seed:
        raise ValueError(f"--seeds needs notebooks with a `seeds` parameter; {', '.join(single_seed)} train one "
                         f"seed (their `seed` parameter): leave them out of --steps")
    if in_place and not recording:
        raise ValueError("--in-place with --quick, --epochs or --seeds is refused: committed notebooks carry "
                         "full recorded runs only")
    if recording and quick_from_env():
        raise ValueError("MNIST_COURSE_QUICK is set to quick mode in this shell: a recording would train on a "
                         "slice; unset it (or pass --quick for a check)")
    output_dir = Path(output_dir) if output_dir else runs_dir()
    # Only the overrides given are passed; a recording adds each step's recorded seeds and a
    # long reference's published epochs (recording_parameters) and otherwise leaves the
    # notebooks' parameters cells as they are.
    parameters: dict = {"quick": True} if quick else {}
    if epochs is not None:
        parameters["epochs"] = epochs
    if seeds is not None:
        parameters["seeds"] = list(seeds)
    if device is not None:
        parameters["device"] = device
    if data_dir is not None:
        parameters["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if not recording and not quick:
        parameters["quick"] = False  # an override run is a full-data run whatever the shell says
        parameters["reports_dir"] = str((output_dir / "reports").resolve())
    if recording and trial_dir is not None and not in_place:
        parameters["reports_dir"] = str(Path(trial_dir).resolve())
    progress_path = output_dir / PROGRESS_FILE
    settings = {"parameters": parameters, "in_place": in_place, "recording": recording}
    progress = _load_progress(progress_path, settings) if resume else {"settings": settings, "done": {}}
    recorded_dir = Path(recorded_dir) if recorded_dir else recorded_reports_dir()
    trial_dir = Path(trial_dir) if trial_dir else trial_reports_dir()
    results = {}
    for name in names:
        source = available[name]
        target = source if in_place else output_dir / source.relative_to(notebooks_dir)
        done = progress["done"].get(name)
        if done and target.is_file() and done.get("sha256") == _sha256(target):
            print(f"=== {name}: done in an earlier run with the same settings (--resume); skipped", flush=True)
            results[name] = {**done, "skipped": True}
            continue
        started = time.time()
        notebook_parameters = {**parameters, **(recording_parameters(name, notebooks_dir) if recording else {})}
        results[name] = execute(name, source, target, notebook_parameters, notebooks_dir)
        records_nothing = name in shows_records or name in exercises or name in last
        if (results[name]["error"] is None and recording and not records_nothing
                and not replays_its_record(source, notebook_parameters)
                and not _promote(name, trial_dir, recorded_dir, started)):
            results[name]["error"] = f"recorded nothing in {trial_dir} (is quick mode on in its parameters?)"
        if results[name]["error"] is None:
            progress["done"][name] = {**results[name], "sha256": _sha256(target)}
            atomic_write_text(progress_path, json.dumps(progress, indent=1) + "\n")
    return results


def replays_its_record(path: Path, parameters: dict) -> bool:
    """Whether notebook ``path`` run with ``parameters`` shows its committed record instead
    of training (a ``replay`` parameter that is True: Step 5 replays its recorded search
    unless ``replay=False`` is passed), so a recording copies nothing from it."""
    replay = pm.inspect_notebook(str(path)).get("replay")
    return replay is not None and parameters.get("replay", replay["default"] == "True") is True


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_progress(path: Path, settings: dict) -> dict:
    """The progress of the previous run if it had the same settings, else a fresh one."""
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous.get("settings") == settings:
            return previous
        print(f"--resume: {path.name} is from a run with other settings; starting over", flush=True)
    return {"settings": settings, "done": {}}


def execute(name: str, source: Path, target: Path, parameters: dict, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict:
    """Execute notebook ``source`` with papermill into ``target`` (from its own folder, with
    ``parameters`` injected; none: its parameters cell), then make the copy's paths
    relative and show what was injected as markdown. A failure does not raise.
    Returns {"error": None or "cell N: Error: message", "seconds": wall-clock, "finished_at"}."""
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
        keep_injected_as_record(target)
    print(f"=== {name}: " + (f"FAILED after {seconds:.0f} s in {error}" if error else f"done in {seconds:.0f} s"),
          flush=True)
    return {"error": error, "seconds": round(seconds, 1),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def keep_injected_as_record(path: Path) -> bool:
    """Turn papermill's injected-parameters cell of an executed notebook into a markdown
    cell that shows the same assignments: the executed copy says what it ran with, and
    Run All of it (a committed notebook, after an in-place recording) uses the
    parameters cell again, e.g. one seed instead of the recording's ten. papermill keeps
    the values in the notebook's metadata too. Returns whether a cell was turned."""
    nb = nbformat.read(path, as_version=4)
    turned = False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "injected-parameters" in cell.metadata.get("tags", []):
            assignments = "\n".join(line for line in cell.source.splitlines() if not line.startswith("#"))
            nb.cells[i] = nbformat.v4.new_markdown_cell(
                "**Run with these parameters** (injected by the course command; Run All uses the "
                f"parameters cell above):\n\n```python\n{assignments.strip()}\n```",
                metadata={"tags": ["injected-parameters-record"]})
            turned = True
    if turned:
        nbformat.write(nb, path)
    return turned


# The figures a report may have beside it: <report>_<kind>.png (curves of every notebook;
# the search history and parameter importances of Step 5's budgets).
REPORT_FIGURES = ("curves", "history", "importances", "front")


def _promote(name: str, source_dir: Path, recorded_dir: Path, since: float) -> list[Path]:
    """Copy the full-data reports notebook ``name`` wrote in ``source_dir`` during this run
    (modified after ``since``, a time.time() value) with their figures
    (``<report>_<kind>.png``, ``REPORT_FIGURES``) and the notebook's own figures
    (``<name>_<kind>.png``, e.g. Step 5's ``05_search_front.png``) into ``recorded_dir``
    and refresh its summary. Report files are ``<name>.json`` or ``<name>-<part>.json``; a quick report is
    never copied. A notebook's recorded reports and figures that this run did not write
    again (a part it no longer has, e.g. after a set-up was renamed) are removed, so
    ``recorded_dir`` holds exactly what its last recording made. Returns the copied paths."""
    copied = []
    for report_path in sorted(source_dir.glob(f"{name}*.json")):
        stem = report_path.stem
        if not (stem == name or stem.startswith(f"{name}-")) or report_path.stat().st_mtime < since:
            continue
        if json.loads(report_path.read_text()).get("quick", True):
            continue
        for path in (report_path, *(source_dir / f"{stem}_{kind}.png" for kind in REPORT_FIGURES)):
            if path.is_file() and path.stat().st_mtime >= since:
                copied.append(atomic_write_bytes(recorded_dir / path.name, path.read_bytes()))
    if copied:  # a full-data recording: the figures of the notebook as a whole come with its reports
        for path in (source_dir / f"{name}_{kind}.png" for kind in REPORT_FIGURES):
            if path.is_file() and path.stat().st_mtime >= since and recorded_dir / path.name not in copied:
                copied.append(atomic_write_bytes(recorded_dir / path.name, path.read_bytes()))
    if copied:
        for stale in sorted(recorded_dir.glob(f"{name}*")):
            part = stale.name.removesuffix(".json")
            for kind in REPORT_FIGURES:
                part = part.removesuffix(f"_{kind}.png")
            if (part == name or part.startswith(f"{name}-")) and stale not in copied:
                print(f"removed {stale.name}: not written by this recording of {name}", flush=True)
                stale.unlink()
        write_summary(recorded_dir)
    return copied


def _relative_paths(notebook: Path) -> None:
    """Papermill records absolute input/output paths in the notebook's metadata; keep
    them relative to the repository so no machine-specific path is committed."""
    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key):
            path = Path(meta[key]).resolve()
            meta[key] = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else path.name
    nbformat.write(nb, notebook)


def run_ablations(steps: list[str] | None = None, *, seeds: list[int] | None = None, device: str | None = None,
                  data_dir: str | None = None, quick: bool = False, recorded_dir: Path | None = None,
                  cache_dir: Path | None = None, variants: list[str] | None = None) -> dict[str, dict]:
    """Train the ablations (``ablation_plans.ABLATIONS``) of the selected step notebooks (default: all).

    Full runs train on 55,000 images and validate on the fixed 5,000 (``seeds``
    default: the ablation's own, else ``ablation_plans.SEEDS``); a recording (no
    ``seeds`` override, not quick) saves each ablation in ``recorded_dir`` (default
    ``reports/ablations/``). Quick mode trains the recipe alone, one seed, one epoch
    on the first 2,000 training images (the first 166 as validation) and saves in a
    temp folder. ``variants``: names of the rows to train (default: all of each
    ablation's; the base row always). Returns {name: record}. Raises ValueError for a
    step without an ablation, or a recording while MNIST_COURSE_QUICK is set.
    """
    names = select_steps(steps, {name: Path(name) for name in ABLATIONS}) if steps else list(ABLATIONS)
    if not quick and seeds is None and quick_from_env():
        raise ValueError("MNIST_COURSE_QUICK is set to quick mode in this shell: a recorded ablation would "
                         "train on a slice; unset it (or pass --quick for a check)")
    known = {v.name for name in names for v in ABLATIONS[name].variants}
    if variants and set(variants) - known:
        raise ValueError(f"variants {sorted(set(variants) - known)} are in none of the ablations {names}; valid: "
                         f"{', '.join(sorted(known))}")
    recording = not quick and seeds is None
    device = resolve_device(device or "auto", verbose=True)
    full = load_mnist(True, data_dir, device, limit=QUICK_TRAIN_IMAGES if quick else None)
    if quick:
        folder, cache, seeds = quick_dir("reports") / "ablations", quick_dir("ablations"), [1]
    else:
        folder = (Path(recorded_dir) if recorded_dir else recorded_reports_dir() / "ablations") if recording \
            else runs_dir() / "reports" / "ablations"
        cache = Path(cache_dir) if cache_dir else runs_dir() / "ablations"
    records = {}
    for name in names:
        seeds_of = seeds or list(ABLATIONS[name].seeds) or SEEDS  # an ablation may record more seeds than 3
        train, val = course_validation_split(full, quick, ABLATIONS[name].val_fold)
        print(f"=== ablation of {name}: seeds {seeds_of}, {len(train):,} training / {len(val):,} validation "
              f"images (fold {ABLATIONS[name].val_fold})", flush=True)
        listed = {v.name for v in ABLATIONS[name].variants}
        rows = [] if quick else select_variants(name, [v for v in variants if v in listed] if variants else None)
        # Runs recorded earlier are not trained again: the cache is keyed by what was
        # trained, so a run recorded in another ablation of the same notebook (e.g. the row a
        # later recipe adopted, now a base) serves this one too.
        for other in (n for n in ABLATIONS if ABLATIONS[n].notebook == ABLATIONS[name].notebook) if recording else ():
            recorded = folder / f"{other}.json"
            primed = prime_cache(other, json.loads(recorded.read_text()), cache, train, val) \
                if recorded.is_file() else 0
            if primed:
                print(f"{primed} runs of the recorded {recorded.name} put into the run cache", flush=True)
        records[name] = run_ablation(name, seeds_of, train, val, cache, variants=rows, log=print,
                                     num_epochs=QUICK_EPOCHS if quick else None, save_to=folder)
        print(format_ablation_table(records[name]), flush=True)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", nargs="+",
                        help="notebooks to run, e.g. 01 04 r2 or 02_skeleton (default: all steps)")
    parser.add_argument("--reference", action="store_true",
                        help="also run the reference set-ups (notebooks/reference/)")
    parser.add_argument("--ablation-notebooks", action="store_true",
                        help="also run the ablation notebooks (notebooks/ablations/: the recorded ablations, "
                             "no training)")
    parser.add_argument("--epochs", type=int, help="override every notebook's epochs (not recorded in reports/)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="override the seeds of every selected notebook that has a `seeds` parameter "
                        "(refused for one that has not); not recorded")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default: the notebooks' 'auto')")
    parser.add_argument("--data-dir", help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--quick", action="store_true",
                        help="a slice of the data for one epoch; reports to a temp folder")
    parser.add_argument("--in-place", action="store_true",
                        help="write executed notebooks over notebooks/ (recordings only)")
    parser.add_argument("--resume", action="store_true",
                        help="skip notebooks the previous run with the same settings finished")
    parser.add_argument("--output-dir", type=Path, help="folder for executed copies (default: runs/)")
    parser.add_argument("--ablations", action="store_true",
                        help="train the selected steps' ablations (validation split) instead of running the notebooks")
    parser.add_argument("--variants", nargs="+", help="with --ablations: only these rows (names as in "
                        "mnist_course.experiments.ablation_plans.ABLATIONS; the base row always)")
    args = parser.parse_args(argv)
    if args.ablations:
        if (args.reference or args.ablation_notebooks or args.epochs is not None or args.in_place or args.resume
                or args.output_dir):
            parser.error("--ablations takes --steps, --variants, --seeds, --device, --data-dir and --quick only "
                         "(it always resumes from its per-run cache)")
        try:
            run_ablations(args.steps, seeds=args.seeds, device=args.device, data_dir=args.data_dir,
                          quick=args.quick, variants=args.variants)
        except ValueError as e:
            parser.error(str(e))
        return 0
    try:
        results = run_course(args.steps, epochs=args.epochs, seeds=args.seeds, device=args.device,
                             data_dir=args.data_dir, quick=args.quick, in_place=args.in_place,
                             output_dir=args.output_dir, reference=args.reference, resume=args.resume,
                             with_ablation_notebooks=args.ablation_notebooks)
    except ValueError as e:
        parser.error(str(e))
    recording = not args.quick and args.epochs is None and args.seeds is None
    if args.quick:
        reports_dir = quick_dir("reports")
    elif recording:
        reports_dir = recorded_reports_dir()
    else:
        reports_dir = (args.output_dir or runs_dir()) / "reports"
    total = sum(r["seconds"] for r in results.values())
    if (recording and not args.steps and not args.reference and not args.ablation_notebooks
            and not any(r["error"] for r in results.values())):
        atomic_write_text(reports_dir / "course_run.json", json.dumps({
            "notebooks": results, "total_seconds": round(total, 1), "device_override": args.device,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }, indent=1) + "\n")
    print(f"\nResults ({reports_dir}; {len(results)} notebooks in {total / 60:.1f} min):\n")
    ok = {name for name, r in results.items() if r["error"] is None}
    print(summary_table([r for r in load_reports(reports_dir) if r["notebook"].split("-")[0] in ok]))
    if recording:
        print("\nRecorded in reports/. Refresh the README's results block with `python scripts/update_readme.py`.")
    failed = {name: r["error"] for name, r in results.items() if r["error"]}
    if failed:
        print(f"\n{len(failed)} of {len(results)} notebooks failed:", file=sys.stderr)
        for name, err in failed.items():
            print(f"  {name}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
