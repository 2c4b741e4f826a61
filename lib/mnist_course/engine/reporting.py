"""Recording results: one JSON file per notebook, the summary table and the README's blocks.

Report files (every write atomic, see :mod:`mnist_course.engine.paths`):
- ``<notebook>.json`` with the keys of :data:`REPORT_KEYS`: one object per seed in
  ``runs`` (seed, history, final_test_acc, last3_min_test_acc, best_test_acc,
  best_epoch, best_train_acc, seconds) and the headline over seeds,
  ``final_test_acc_mean`` / ``_std`` (sample) / ``_min`` / ``_max``. Accuracies in
  percent (0-100); see :mod:`mnist_course.engine.results` for the conventions.
- ``<notebook>_curves.png``: mean curves over seeds with a min-max band (drawn by :mod:`mnist_course.engine.plots`).
- ``summary.md`` and ``params_vs_accuracy.png``: generated from all JSON files of the folder.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .paths import atomic_write_text
from .plots import plot_params_vs_accuracy
from .results import (
    GOAL_STEPS,
    aggregate,
    best_epoch,
    format_bound,
    format_hold,
    format_mean_std,
    goal_statistics,
    goal_verdict,
    headline,
    summarize_run,
)

REPORT_KEYS = ("step", "notebook", "model", "params", "epochs", "seeds", "runs", "final_test_acc_mean",
               "final_test_acc_std", "final_test_acc_min", "final_test_acc_max", "quick", "device", "seconds",
               "torch_version", "config")


def run_selected_on_validation(history: list[dict], seed: int, seconds: float, test_acc: float) -> dict:
    """The figures of a run whose weights were chosen on validation and whose test set was
    measured once afterwards (``test_acc``, percent): the headline is that figure;
    best_epoch is the epoch chosen on validation (with its best_val_acc and
    selected_train_acc); there is no per-epoch test figure, so last3_min_test_acc and
    best_test_acc are None. Keys as in ``results.summarize_run``."""
    chosen = best_epoch(history, "val")
    return {"seed": seed, "final_test_acc": test_acc, "last3_min_test_acc": None, "best_test_acc": None,
            "best_epoch": chosen["epoch"], "best_train_acc": max(row["train_acc"] for row in history),
            "best_val_acc": chosen["val_acc"], "selected_train_acc": chosen["train_acc"],
            "seconds": round(seconds, 1), "history": history}


def build_report(*, step: str, notebook: str, model: str, params: int, runs: list[dict], quick: bool,
                 device: str, config: dict, extra: dict | None = None) -> dict:
    """The report dict of a notebook run over one or more seeds.

    runs: one dict per seed from ``results.summarize_run`` (or
    :func:`run_selected_on_validation`); config: the training settings (a dict);
    extra: more keys (image counts, "published", the layer table, ...).
    Raises ValueError for an empty ``runs``.
    """
    finals = aggregate([r["final_test_acc"] for r in runs])
    last3 = [r["last3_min_test_acc"] for r in runs if r.get("last3_min_test_acc") is not None]
    best = [r["best_test_acc"] for r in runs if r.get("best_test_acc") is not None]
    report = {
        "step": step,
        "notebook": notebook,
        "model": model,
        "params": params,
        "epochs": len(runs[0]["history"]),
        "seeds": [r["seed"] for r in runs],
        "final_test_acc_mean": finals["mean"],
        "final_test_acc_std": finals["std"],
        "final_test_acc_min": finals["min"],
        "final_test_acc_max": finals["max"],
        "last3_min_test_acc": min(last3) if last3 else None,
        # The reference course's convention, kept for comparison only: optimistic,
        # because each seed's epoch is picked by its test accuracy.
        "best_test_acc_mean": aggregate(best)["mean"] if best else None,
        # The course goal's figures (results.goal_statistics): n, mean, std, t, the 95%
        # lower bound of the mean, and how many seeds held 99.4% in their last 3 epochs.
        "goal": goal_statistics([r["final_test_acc"] for r in runs], last3 if len(last3) == len(runs) else None),
        "quick": bool(quick),
        "device": device,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "config": config,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": runs,
    }
    report.update(extra or {})
    return report


def save_report(report: dict, reports_dir: str | os.PathLike) -> Path:
    """Write ``<reports_dir>/<notebook>.json`` and refresh ``summary.md``; returns the JSON path.

    Raises ValueError if a key of :data:`REPORT_KEYS` is missing.
    """
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        raise ValueError(f"report is missing keys {missing}; required: {', '.join(REPORT_KEYS)}")
    reports_dir = Path(reports_dir)
    path = atomic_write_text(reports_dir / f"{report['notebook']}.json", json.dumps(report, indent=1) + "\n")
    write_summary(reports_dir)
    return path


def load_reports(reports_dir: str | os.PathLike) -> list[dict]:
    """All notebook reports in ``reports_dir``, sorted by notebook name. Files that are not
    valid report JSON (a benchmark, say) are skipped."""
    reports = []
    for path in sorted(Path(reports_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and all(k in data for k in REPORT_KEYS):
            reports.append(data)
    return reports


def _fmt(value, decimals: int = 2) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def goal_figures(report: dict) -> dict:
    """``results.goal_statistics`` of a report's runs (its final-epoch test accuracies and,
    where every run has them, its lowest test accuracies over the last 3 epochs)."""
    lows = [r.get("last3_min_test_acc") for r in report["runs"]]
    return goal_statistics([r["final_test_acc"] for r in report["runs"]], None if None in lows else lows)


def summary_table(reports: list[dict]) -> str:
    """A markdown table with one row per report: the headline (final-epoch test accuracy,
    mean ± std over n seeds) and the 95% lower bound of its mean that decides the course
    goal, its min, how many seeds held 99.4% in each of their last 3 epochs (k of n;
    reported, not gated), and the optimistic best-epoch figure in its own column."""
    lines = ["| notebook | step | params | epochs | final test acc (%), mean ± std (n) | 95% lower bound (%) "
             "| min (%) | seeds ≥ 99.4% in each of the last 3 epochs | best-epoch test acc (%), optimistic "
             "| device | seconds | quick |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in reports:
        goal = goal_figures(r)
        held = "–" if goal["held"] is None else f"{goal['held']} of {goal['n']}"
        lines.append(f"| {r['notebook']} | {r['step']} | {r['params']:,} | {r['epochs']} "
                     f"| {format_mean_std(headline(r))} | {_fmt(goal['lower_bound'])} | {r['final_test_acc_min']:.2f} "
                     f"| {held} | {_fmt(r.get('best_test_acc_mean'))} "
                     f"| {r['device']} | {r['seconds']:.0f} | {'yes' if r['quick'] else 'no'} |")
    return "\n".join(lines)


def compare_with_published(report: dict, published: list[dict]) -> list[dict]:
    """Pair each published figure with the reproduced one at the same epoch.

    published: dicts with "test_acc" (percent) and "epoch" (int, or None for a figure
    measured once after training: compared with the report's final_test_acc_mean).
    The reproduced figure is the mean over the report's seeds at that epoch.
    Returns rows: epoch, published, reproduced, difference (reproduced - published), n.
    """
    rows = []
    for point in published:
        epoch = point.get("epoch")
        if epoch is None:
            reproduced = report["final_test_acc_mean"]
        else:
            values = [row["test_acc"] for r in report["runs"] for row in r["history"]
                      if row["epoch"] == epoch and row.get("test_acc") is not None]
            # None: not trained that long (quick mode)
            reproduced = sum(values) / len(values) if len(values) == len(report["runs"]) else None
        rows.append({"epoch": epoch, "published": point["test_acc"], "reproduced": reproduced,
                     "difference": None if reproduced is None else reproduced - point["test_acc"],
                     "n": len(report["runs"])})
    return rows


def published_table(reports: list[dict]) -> str:
    """A markdown table pairing each published figure with the reproduced one
    (reports that carry a "published" list), with the time one seed's run took on the
    recording's device (minutes: training and per-epoch evaluation)."""
    lines = ["| notebook | model | epoch | published test acc (%) | reproduced test acc (%), mean | seeds "
             "| difference (points) | minutes per seed | device |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in reports:
        minutes = r["seconds"] / len(r["runs"]) / 60
        for row in compare_with_published(r, r.get("published") or []):
            epoch = "after selection" if row["epoch"] is None else row["epoch"]
            shown = ("not reached", "") if row["reproduced"] is None else (
                f"{row['reproduced']:.2f}", f"{row['difference']:+.2f}")
            lines.append(f"| {r['notebook']} | {r['model']} | {epoch} | {row['published']:.2f} | {shown[0]} "
                         f"| {row['n']} | {shown[1]} | {minutes:.{1 if minutes < 10 else 0}f} | {r['device']} |")
    return "\n".join(lines)


def format_published_comparison(reports: dict[str, dict], published: list[dict]) -> str:
    """A text table: one row per published figure ({"epoch", "test_acc"}, percent), its
    value and, per set-up in ``reports`` (name -> report), the reproduced test accuracy
    at that epoch (mean over the report's seeds) and its difference in points; "–" where
    a run did not train that long (quick mode)."""
    names = list(reports)
    lines = [f"{'epoch':>5} {'published':>10} " + " ".join(f"{name:>18}" for name in names)]
    rows = {name: compare_with_published(report, published) for name, report in reports.items()}
    for i, point in enumerate(published):
        cells = []
        for name in names:
            row = rows[name][i]
            cells.append(f"{'–':>18}" if row["reproduced"] is None
                         else f"{row['reproduced']:>8.2f}% ({row['difference']:+.2f})")
        epoch = "final" if point.get("epoch") is None else point["epoch"]
        lines.append(f"{epoch:>5} {point['test_acc']:>9.2f}% " + " ".join(cells))
    n = sorted({len(report["runs"]) for report in reports.values()})
    lines.append(f"reproduced: mean over {', '.join(map(str, n))} seed(s); in brackets the difference from the "
                 f"published figure, points")
    return "\n".join(lines)


def format_seeds_at_epochs(runs: list[dict], epochs: list[int], keys: tuple[str, ...] = ("test_acc",)) -> str:
    """A text table: one row per seed's run (``summarize_run`` dicts), its ``keys``
    (percent, e.g. "train_acc", "test_acc") after each of ``epochs``; epochs no run
    reached (quick mode) are left out. Shows how a seed's run was decided along the way.
    Raises ValueError for an empty ``epochs`` or ``runs``."""
    if not runs or not epochs:
        raise ValueError(f"format_seeds_at_epochs needs runs and epochs; got {len(runs)} runs, epochs={epochs!r}")
    reached = [e for e in sorted(set(epochs)) if all(any(row["epoch"] == e for row in r["history"]) for r in runs)]
    names = {"train_acc": "train", "test_acc": "test"}
    header = f"{'seed':>4} " + " ".join(f"{names.get(k, k) + ' after epoch ' + str(e):>22}" for e in reached
                                          for k in keys)
    lines = [header]
    for r in runs:
        by_epoch = {row["epoch"]: row for row in r["history"]}
        lines.append(f"{r['seed']:>4} " + " ".join(f"{by_epoch[e][k]:>21.2f}%" for e in reached for k in keys))
    return "\n".join(lines)


def device_comparison_table(recorded: list[dict], other: list[dict], labels: tuple[str, str] | None = None) -> str:
    """A markdown table comparing two recordings of the same notebooks on two machines
    (``recorded``: reports/, ``other``: e.g. reports/gpu/, which
    scripts/import_device_run.py admits only with the same recipe). One row per notebook
    in both: final-epoch test accuracy mean ± std (n) on each, the 95% lower bound of
    that mean on each (``results.goal_statistics``; n may differ: the goal steps are
    recorded over 10 seeds here), mean seconds per seed (one 15-epoch run, evaluation
    included) on each and their ratio. ``labels``: the two column labels (default: the
    reports' device names). Accuracies in percent."""
    here = {r["notebook"]: r for r in recorded}
    pairs = [(here[r["notebook"]], r) for r in other if r["notebook"] in here]
    if not pairs:
        return "No notebook is recorded on both machines."
    a, b = labels or (pairs[0][0]["device"], pairs[0][1]["device"])
    lines = [f"| notebook | params | final test acc (%), {a} | final test acc (%), {b} "
             f"| 95% lower bound (%), {a} | same, {b} | s per seed, {a} | s per seed, {b} | speed-up |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for x, y in pairs:
        sx, sy = (aggregate([run["seconds"] for run in r["runs"]])["mean"] for r in (x, y))
        lines.append(f"| {x['notebook']} | {x['params']:,} | {format_mean_std(headline(x))} "
                     f"| {format_mean_std(headline(y))} | {_fmt(goal_figures(x)['lower_bound'])} "
                     f"| {_fmt(goal_figures(y)['lower_bound'])} | {sx:.0f} | {sy:.0f} | {sx / sy:.1f}× |")
    return "\n".join(lines)


def goal_lines(reports: list[dict]) -> str:
    """One markdown bullet per goal step (``results.GOAL_STEPS``) that ``reports`` holds:
    its verdict under the course goal (``results.goal_verdict`` against its budget), the
    final-epoch test accuracy with its 95% lower bound, and the hold rate (reported, not
    gated)."""
    by_name = {r["notebook"]: r for r in reports}
    lines = []
    for name, budget in GOAL_STEPS.items():
        if name not in by_name:
            continue
        r = by_name[name]
        stats = goal_figures(r)
        verdict = goal_verdict(stats, r["params"], r["epochs"], budget, quick=r["quick"])
        lines.append(f"- **{r['step']}** ({r['params']:,} parameters, budget under {budget:,}): {verdict['text']} "
                     f"Final-epoch test accuracy {format_bound(stats)}; {format_hold(stats)}.")
    return "\n".join(lines)


# The course's main path, step by step to the smallest model at the goal.
COURSE_PATH = ("01_setup", "02_skeleton", "03_batchnorm", "04_capacity", "06_teacher")


def results_markdown(reports: list[dict]) -> str:
    """The README's results block: the steps table and the goal steps' verdicts."""
    steps = [r for r in reports if "published" not in r]
    goals = goal_lines(steps)
    return summary_table(steps) + (f"\n\nThe course goal, by its rule:\n\n{goals}" if goals else "")


def write_summary(reports_dir: str | os.PathLike) -> Path:
    """(Re)write ``<reports_dir>/summary.md`` and ``params_vs_accuracy.png`` from the JSON
    reports in that folder: the course steps, the reference set-ups, and published vs
    reproduced figures. Returns the path of summary.md."""
    reports_dir = Path(reports_dir)
    reports = load_reports(reports_dir)
    steps = [r for r in reports if "published" not in r]
    references = [r for r in reports if "published" in r]
    text = ("# Course results\n\n"
            "Generated by `mnist_course.engine.reporting.write_summary` from the JSON files in this folder. "
            "Headline: the **final epoch's test accuracy**, mean ± sample standard deviation over n seeds "
            "(each seed its own initialisation, data order and augmentation), the one-sided 95% lower "
            "confidence bound of that mean (Student's t, n - 1 degrees of freedom), which decides the course "
            "goal (>= 99.4% over >= 10 seeds), and its minimum. How many seeds held 99.4% in each of their "
            "last 3 epochs is reported, not gated. "
            "The best-epoch column picks each seed's epoch by its test accuracy, as the course this "
            "follows does; it is optimistic and chooses nothing here. Accuracies in percent.\n\n"
            "## Steps\n\n" + summary_table(steps) + "\n")
    if references:
        text += ("\n## Reference set-ups\n\n" + summary_table(references) + "\n"
                 "\n## Published vs reproduced\n\nThe reproduced test accuracy (mean over the seeds run) at "
                 "the epoch of each published figure.\n\n" + published_table(references) + "\n")
    if reports:
        text += "\n![parameters vs accuracy](params_vs_accuracy.png)\n"
        plt.close(plot_params_vs_accuracy(reports, reports_dir / "params_vs_accuracy.png"))
    return atomic_write_text(reports_dir / "summary.md", text)


def single_run(history: list[dict], seed: int, seconds: float) -> list[dict]:
    """``runs`` for a report of one seed (a list of one ``results.summarize_run`` dict)."""
    return [summarize_run(history, seed, seconds)]

