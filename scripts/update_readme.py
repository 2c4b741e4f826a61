"""Refresh the README's generated blocks from the recorded files in reports/.

    python scripts/update_readme.py            # rewrite README.md in place
    python scripts/update_readme.py --check    # exit 1 if README.md is out of date

Three blocks, each between its marker lines:
- results: the steps table and published-vs-reproduced table, as in reports/summary.md;
- benchmark: the speed figures of reports/benchmark.json (python -m mnist_course.benchmark);
- gpu: the recording on a GPU in reports/gpu/ (scripts/import_device_run.py) beside the
  record in reports/, and that machine's benchmark.
The library never edits the README; a maintainer runs this after a recording.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnist_course.benchmark import readme_excerpt
from mnist_course.paths import REPO_ROOT, atomic_write_text, recorded_reports_dir
from mnist_course.reporting import device_comparison_table, load_reports, results_markdown

RESULTS = ("<!-- results:start (generated from reports/ by scripts/update_readme.py) -->", "<!-- results:end -->")
BENCHMARK = ("<!-- benchmark:start (generated from reports/benchmark.json by scripts/update_readme.py) -->",
             "<!-- benchmark:end -->")
GOAL = 99.4  # Step 4's bar (and Steps 5 and 6's), percent test accuracy in each of the last 3 epochs
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
             f"CPU: the record above ({', '.join(devices)}); the same recipes and seeds:",
             "", device_comparison_table(load_reports(reports_dir), gpu, labels=("CPU", "GPU"))]
    both = [r for r in gpu if r["notebook"] in here]
    held = {label: ", ".join(r["notebook"] for r in reports if (r.get("last3_min_test_acc") or 0) >= GOAL) or "none"
            for label, reports in (("CPU", [here[r["notebook"]] for r in both]), ("GPU", both))}
    lines += ["", f"Every seed at least {GOAL}% in each of its last 3 epochs: on the CPU {held['CPU']}; "
                  f"on the GPU {held['GPU']}."]
    benchmark = folder / "benchmark.json"
    if benchmark.is_file():
        result = json.loads(benchmark.read_text())
        result.pop("recorded_course", None)  # quoted above
        lines += ["", "The benchmark on that machine (`reports/gpu/benchmark.md`):", "", readme_excerpt(result)]
    return "\n".join(lines)


def updated_readme(readme: str, reports_dir: Path) -> str:
    """The README text with its three blocks regenerated from ``reports_dir``. Raises
    FileNotFoundError when there is no benchmark.json to quote (run the benchmark)."""
    text = replace_block(readme, RESULTS, results_markdown(load_reports(reports_dir)))
    benchmark = reports_dir / "benchmark.json"
    if not benchmark.is_file():
        raise FileNotFoundError(f"{benchmark} does not exist: run `python -m mnist_course.benchmark` first")
    text = replace_block(text, BENCHMARK, readme_excerpt(json.loads(benchmark.read_text())))
    return replace_block(text, GPU, gpu_block(reports_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md")
    parser.add_argument("--reports-dir", type=Path, default=recorded_reports_dir())
    args = parser.parse_args(argv)
    current = args.readme.read_text()
    new = updated_readme(current, args.reports_dir)
    if args.check:
        print("README.md is up to date." if new == current else "README.md is out of date: run "
              "`python scripts/update_readme.py`.")
        return 0 if new == current else 1
    if new != current:
        atomic_write_text(args.readme, new)
    print(f"{args.readme.name}: {'updated' if new != current else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
