"""Refresh the generated blocks of the README and docs/ from the recorded files in reports/.

    python scripts/update_readme.py            # rewrite README.md and docs/*.md in place
    python scripts/update_readme.py --check    # exit 1 if any of them is out of date

Seven blocks, each between its marker lines:
- learned (README.md): what each main-path step bought and what stays open, as the
  conclusion notebook prints it (mnist_course.course.conclusion.learned_markdown);
- results (README.md): the steps table, as in reports/summary.md, and the goal steps'
  verdicts under the course goal (mnist_course.engine.reporting.goal_lines);
- published (docs/reference-setups.md): the published-vs-reproduced table;
- benchmark (docs/speed.md): the speed figures of reports/benchmark.json;
- gpu (docs/speed.md): the recording on a GPU in reports/gpu/ (scripts/import_device_run.py)
  beside the record in reports/, and that machine's benchmark;
- ablations (docs/ablations.md): every ablation with its rule and the decision computed
  from its record in reports/ablations/ (mnist_course.experiments.ablation.decisions_markdown);
- runall (docs/running.md): what Run All of each notebook cost on a 2-core CPU, timed from
  a fresh clone by scripts/time_run_all.py (reports/run_all.json).
The library never edits these files; a maintainer runs this after a recording.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnist_course.apps.benchmark import readme_excerpt
from mnist_course.course.conclusion import learned_markdown
from mnist_course.engine.paths import REPO_ROOT, atomic_write_text, recorded_reports_dir
from mnist_course.engine.reporting import device_comparison_table, load_reports, published_table, results_markdown
from mnist_course.experiments.ablation import decisions_markdown

LEARNED = ("<!-- learned:start (generated from reports/ by scripts/update_readme.py) -->", "<!-- learned:end -->")
RESULTS = ("<!-- results:start (generated from reports/ by scripts/update_readme.py) -->", "<!-- results:end -->")
BENCHMARK = ("<!-- benchmark:start (generated from reports/benchmark.json by scripts/update_readme.py) -->",
             "<!-- benchmark:end -->")
PUBLISHED = ("<!-- published:start (generated from reports/ by scripts/update_readme.py) -->", "<!-- published:end -->")
ABLATIONS = ("<!-- ablations:start (generated from reports/ablations/ by scripts/update_readme.py) -->",
             "<!-- ablations:end -->")
RUN_ALL = ("<!-- runall:start (generated from reports/run_all.json by scripts/update_readme.py) -->",
           "<!-- runall:end -->")
GPU = ("<!-- gpu:start (generated from reports/gpu/ by scripts/update_readme.py) -->", "<!-- gpu:end -->")


def replace_block(text: str, markers: tuple[str, str], body: str) -> str:
    """``text`` with what lies between the two marker lines replaced by ``body``.
    Raises ValueError naming a missing marker."""
    start, end = markers
    for marker in markers:
        if marker not in text:
            raise ValueError(f"marker {marker!r} not found; the README must contain both {start!r} and {end!r}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def gpu_block(reports_dir: Path) -> str:
    """The GPU block: what ran where, the comparison with the record, the GPU's benchmark."""
    folder = reports_dir / "gpu"
    if not (folder / "course_run.json").is_file():
        return "No recording on a GPU yet (see above for how to make one)."
    course = json.loads((folder / "course_run.json").read_text())
    gpu = load_reports(folder)
    here = {r["notebook"]: r for r in load_reports(reports_dir)}
    devices = sorted({here[r["notebook"]]["device"] for r in gpu if r["notebook"] in here})
    lines = [f"Recorded on {course['device']}, torch {gpu[0]['torch_version']}, {course['finished_at'][:10]}, "
             f"by the course command: {len(course['notebooks'])} notebooks ({', '.join(course['notebooks'])}) in "
             f"{course['total_seconds'] / 60:.1f} min, each over its recorded seeds (`reports/gpu/`). "
             f"CPU: the record ({', '.join(devices)}); the same recipes, over the seeds each recorded (n):",
             "", device_comparison_table(load_reports(reports_dir), gpu, labels=("CPU", "GPU"))]
    benchmark = folder / "benchmark.json"
    if benchmark.is_file():
        result = json.loads(benchmark.read_text())
        result.pop("recorded_course", None)  # quoted above
        lines += ["", "The benchmark on that machine (`reports/gpu/benchmark.md`):", "", readme_excerpt(result)]
    return "\n".join(lines)


def run_all_block(reports_dir: Path) -> str:
    """A table of each notebook's Run All seconds (reports/run_all.json), slowest first, with
    the machine, the commit and the limit; a line saying so when nothing was timed."""
    path = reports_dir / "run_all.json"
    if not path.is_file():
        return "Not timed yet: `python scripts/time_run_all.py` in a fresh clone."
    timed = json.loads(path.read_text())["notebooks"]
    runs = sorted(timed.items(), key=lambda item: -item[1]["seconds"])
    machines = sorted({f"{r['device']}, {r['processor']}, torch {r['torch_version']}" for r in timed.values()})
    commits = sorted({(r["commit"] or "?")[:7] for r in timed.values()})
    dates = sorted(r["finished_at"][:10] for r in timed.values())
    lines = [f"Run All of each of the {len(timed)} notebooks with its own parameters, timed from a fresh clone "
             f"(nothing replayed from `runs/`) by `scripts/time_run_all.py` on {'; '.join(machines)}, "
             f"{dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
             + f" (commit {', '.join(commits)}); slowest {runs[0][1]['seconds'] / 60:.1f} min, all "
             f"{sum(r['seconds'] for r in timed.values()) / 60:.0f} min:", "",
             "| notebook | Run All (min) | seconds |", "| --- | ---: | ---: |"]
    lines += [f"| [{name}](../{r['path']}) | {r['seconds'] / 60:.1f} | {r['seconds']:.0f}"
              + (f" (failed: {r['error']})" if r["error"] else "") + " |" for name, r in runs]
    return "\n".join(lines)


def updated_readme(readme: str, reports_dir: Path) -> str:
    """The README text with its learned and results blocks regenerated from ``reports_dir``."""
    readme = replace_block(readme, LEARNED, learned_markdown(reports_dir))
    return replace_block(readme, RESULTS, results_markdown(load_reports(reports_dir)))


def updated_files(root: Path, reports_dir: Path) -> dict[Path, str]:
    """{file: its text with every generated block regenerated from ``reports_dir``} for
    README.md, docs/reference-setups.md, docs/speed.md, docs/ablations.md and docs/running.md under ``root``. Raises
    FileNotFoundError when there is no benchmark.json to quote (run the benchmark)."""
    reports = load_reports(reports_dir)
    readme, reference, speed = root / "README.md", root / "docs" / "reference-setups.md", root / "docs" / "speed.md"
    ablations, running = root / "docs" / "ablations.md", root / "docs" / "running.md"
    benchmark = reports_dir / "benchmark.json"
    if not benchmark.is_file():
        raise FileNotFoundError(f"{benchmark} does not exist: run `python -m mnist_course.apps.benchmark` first")
    speed_text = replace_block(speed.read_text(), BENCHMARK, readme_excerpt(json.loads(benchmark.read_text())))
    return {
        readme: updated_readme(readme.read_text(), reports_dir),
        reference: replace_block(reference.read_text(), PUBLISHED,
                                 published_table([r for r in reports if "published" in r])),
        speed: replace_block(speed_text, GPU, gpu_block(reports_dir)),
        ablations: replace_block(ablations.read_text(), ABLATIONS, decisions_markdown(reports_dir / "ablations")),
        running: replace_block(running.read_text(), RUN_ALL, run_all_block(reports_dir)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if README.md is out of date")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="folder holding README.md and docs/")
    parser.add_argument("--reports-dir", type=Path, default=recorded_reports_dir())
    args = parser.parse_args(argv)
    stale = []
    for path, new in updated_files(args.root, args.reports_dir).items():
        if new != path.read_text():
            stale.append(path)
            if not args.check:
                atomic_write_text(path, new)
    names = ", ".join(str(p.relative_to(args.root)) for p in stale)
    if args.check:
        print(f"{names} out of date: run `python scripts/update_readme.py`." if stale else "All up to date.")
        return 1 if stale else 0
    print(f"updated: {names}" if stale else "already up to date")
    return 0

if __name__ == "__main__":
    sys.exit(main())
