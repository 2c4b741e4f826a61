"""The course's conclusion, computed from the records in ``reports/``: each step of the
main path, what it changed, what that cost in parameters and bought in final-epoch test
accuracy, the goal's verdict where a step claims it, and what stays open.

Nothing here trains; every figure comes from a recorded report (``reporting.load_reports``).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..engine.paths import recorded_reports_dir
from ..engine.reporting import COURSE_PATH, goal_figures, load_reports
from ..engine.results import GOAL_MAX_PARAMS, GOAL_STEPS, format_bound, format_hold, goal_verdict
from ..experiments.ablation_plans import ABLATIONS, decide

# What each step of the main path changed: its notebook's one idea.
DECISIONS = {
    "01_setup": "a plain CNN with a fully connected head; the pipeline works",
    "02_skeleton": "GAP and a 1×1 transition instead of the fully connected head",
    "03_batchnorm": "BatchNorm after every 3×3 convolution, slimmed under 8,000 parameters",
    "04_capacity": "MaxPool at RF 5 and the budget spent after it; one-cycle rate, rotation and shift",
    "06_teacher": "Step 5's searched winner under 5,000 parameters, taught by a wider network",
}

# Where the course goes next, with the budgets their notebooks judge them under: the
# < 4,000 stretch, and the smallest public model at the goal (reference 5).
OPEN = {"07_stretch": 4_000, "r5_tiny_3762": GOAL_MAX_PARAMS}

# The front: every budget the search tried, each winner with the labels alone and, where a
# step taught it, with the teacher; Step 4's design and reference 5 beside them. Each is a
# test recording over at least 5 seeds.
FRONT = {
    "05_search-3000": ("searched under 3,000, labels", "labels"),
    "05_search-4000": ("searched under 4,000, labels", "labels"),
    "07_stretch": ("Step 7: the same, taught", "taught"),
    "05_search-5000": ("searched under 5,000, labels", "labels"),
    "05_search-6000": ("searched under 6,000, labels", "labels"),
    "06_teacher": ("Step 6: under 5,000, taught", "taught"),
    "04_capacity": ("Step 4: designed under 8,000, labels", "labels"),
    "r5_tiny_3762": ("reference 5: 3,762, its own recipe", "reference"),
}
# The teacher's study on each searched winner (validation split, fold 1), and the winner's
# test recordings without and with the teacher, where a step trained it taught.
TEACHER_STUDIES = {"05_search-distill3000": ("05_search-3000", None),
                   "05_search-distill4000": ("05_search-4000", "07_stretch"),
                   "05_search-distill": ("05_search-5000", "06_teacher")}


def _by_name(reports_dir: str | Path | None) -> dict[str, dict]:
    return {r["notebook"]: r for r in load_reports(reports_dir or recorded_reports_dir())}


def course_path_rows(reports_dir: str | Path | None = None) -> list[dict]:
    """One dict per recorded step of ``reporting.COURSE_PATH``, in order: notebook, step,
    decision (``DECISIONS``), params, d_params (against the step before; None for the
    first), stats (``results.goal_statistics`` of its final-epoch test accuracies,
    percent), d_mean (points against the step before), budget (its goal's parameter
    budget, None when it claims no goal), teacher (the record of a teacher that taught it:
    name, params, train_images, seconds, test_acc; None) and verdict (``results.goal_verdict``, or None).
    reports_dir: the records to read (default ``reports/``)."""
    by_name, rows, before = _by_name(reports_dir), [], None
    for name in (n for n in COURSE_PATH if n in by_name):
        r = by_name[name]
        stats, budget = goal_figures(r), GOAL_STEPS.get(name)
        rows.append({"notebook": name, "step": r["step"], "decision": DECISIONS[name], "params": r["params"],
                     "d_params": None if before is None else r["params"] - before["params"],
                     "stats": stats, "d_mean": None if before is None else stats["mean"] - before["stats"]["mean"],
                     "budget": budget, "teacher": r.get("teacher"),
                     "verdict": None if budget is None else goal_verdict(stats, r["params"], r["epochs"], budget)})
        before = rows[-1]
    return rows


def print_course_path(rows: list[dict]) -> None:
    """Print :func:`course_path_rows`: per step its decision, then its parameters and
    final-epoch accuracy with the change from the step before, and its goal verdict."""
    for row in rows:
        change = "" if row["d_params"] is None else (
            f" ({row['d_params']:+,} parameters, {row['d_mean']:+.2f} points against the step before)")
        print(f"{row['step']}: {row['decision']}.")
        print(f"    {row['params']:,} parameters; final test accuracy {format_bound(row['stats'])}{change}")
        if row["teacher"]:
            t = row["teacher"]
            print(f"    Its teacher ({t['name']}): {t['params']:,} parameters, trained once on {t['train_images']:,} "
                  f"images in {t['seconds']:.0f} s, {t['test_acc']:.2f}% test accuracy; the student is counted.")
        if row["verdict"] is not None:
            print(f"    Budget under {row['budget']:,}: {row['verdict']['text']} {format_hold(row['stats'])}.")


def open_rows(reports_dir: str | Path | None = None) -> list[dict]:
    """One dict per recording of ``OPEN`` that exists, in ``OPEN``'s order: notebook,
    step, params, budget, stats (``results.goal_statistics``) and verdict
    (``results.goal_verdict`` against its budget)."""
    by_name, rows = _by_name(reports_dir), []
    for name, budget in OPEN.items():
        if name in by_name:
            r = by_name[name]
            stats = goal_figures(r)
            rows.append({"notebook": name, "step": r["step"], "params": r["params"], "budget": budget,
                         "stats": stats, "verdict": goal_verdict(stats, r["params"], r["epochs"], budget)})
    return rows


def print_open_questions(reports_dir: str | Path | None = None) -> list[str]:
    """Print, for each recording of ``OPEN`` that exists, its verdict against its budget;
    returns the notebooks printed."""
    rows = open_rows(reports_dir)
    for row in rows:
        print(f"{row['step']} ({row['params']:,} parameters, {row['notebook']}): final test accuracy "
              f"{format_bound(row['stats'])}. {row['verdict']['text']}")
    return [row["notebook"] for row in rows]


def learned_markdown(reports_dir: str | Path | None = None) -> str:
    """The README's "What we learned" block, from the same records as the conclusion
    notebook: one bullet per main-path step (its decision; its parameters and final-epoch
    mean with the change against the step before; its goal verdict), then one bullet per
    open question (``OPEN``) with its verdict. Empty when no step is recorded."""
    lines = []
    for row in course_path_rows(reports_dir):
        stats, line = row["stats"], f"- **{row['step']}**: {row['decision']}. {row['params']:,} parameters"
        if row["d_params"] is None:
            line += f", final test accuracy {stats['mean']:.2f}% (n = {stats['n']})."
        else:
            line += (f" ({row['d_params']:+,}), final test accuracy {stats['mean']:.2f}% "
                     f"({row['d_mean']:+.2f} points; n = {stats['n']}).")
        if row["teacher"]:
            line += f" Its teacher has {row['teacher']['params']:,} parameters; the student is counted."
        if row["verdict"] is not None:
            line += f" Under {row['budget']:,} parameters: {_short(row['verdict'], stats)}"
        lines.append(line)
    for row in open_rows(reports_dir):
        lines.append(f"- Open, **{row['step']}**: {row['params']:,} parameters, final test accuracy "
                     f"{row['stats']['mean']:.2f}% (n = {row['stats']['n']}). Under {row['budget']:,} parameters: "
                     f"{_short(row['verdict'], row['stats'])}")
    return "\n".join(lines)


def _short(verdict: dict, stats: dict) -> str:
    """"goal met (95% lower bound 99.44%)." or "goal not met (...)." for one bullet."""
    bound = "no lower bound" if stats["lower_bound"] is None else (
        f"{stats['confidence']:.0%} lower bound {stats['lower_bound']:.2f}%")
    return f"goal {'met' if verdict['met'] else 'not met'} ({bound}, n = {stats['n']})."


def front_rows(reports_dir: str | Path | None = None) -> list[dict]:
    """One dict per recording of ``FRONT`` that exists, by parameters (then ``FRONT``'s
    order): notebook, label, kind ("labels", "taught" or "reference"), params, stats
    (``results.goal_statistics`` of its final-epoch test accuracies, percent), train_acc
    (mean over seeds of the final epoch's training accuracy, percent, measured on the
    augmented training batches in training mode) and test_loss (mean final-epoch test cross-entropy, nats)."""
    by_name, rows = _by_name(reports_dir), []
    for name, (label, kind) in FRONT.items():
        if name in by_name:
            r = by_name[name]
            last = [run["history"][-1] for run in r["runs"]]
            rows.append({"notebook": name, "label": label, "kind": kind, "params": r["params"],
                         "stats": goal_figures(r),
                         "train_acc": statistics.mean(h["train_acc"] for h in last),
                         "test_loss": statistics.mean(h["test_loss"] for h in last)})
    return sorted(rows, key=lambda row: row["params"])


def print_front(rows: list[dict]) -> None:
    """Print :func:`front_rows` as a table: parameters, what was trained, the final-epoch
    test accuracy with its 95% lower bound, the final training accuracy and test loss."""
    print(f"{'params':>7}  {'what':<38} {'final test acc, mean ± std (n)':<31} {'95% bound':>9}  "
          f"{'train acc':>9}  {'test loss':>9}")
    for row in rows:
        s = row["stats"]
        bound = "–" if s["lower_bound"] is None else f"{s['lower_bound']:.2f}%"
        acc = f"{s['mean']:.2f} ± {s['std']:.2f}% (n = {s['n']})"
        print(f"{row['params']:>7,}  {row['label']:<38} {acc:<31} {bound:>9}  {row['train_acc']:>8.2f}%  "
              f"{row['test_loss']:>9.4f}")


def teacher_gains(reports_dir: str | Path | None = None) -> list[dict]:
    """What the teacher bought each searched winner, for each study of ``TEACHER_STUDIES``
    that is recorded (``<reports_dir>/ablations/<study>.json``): study, params, val_gain
    and val_se (points: the taught row's mean final validation accuracy minus the
    base's, and the standard error of that difference), cleared (its rule's verdict,
    ``ablation_plans.decide``), and test_gain (points: the taught test recording's mean
    minus the labels-only one's, over their own seeds; None where no step trained it
    taught)."""
    folder = Path(reports_dir or recorded_reports_dir())
    by_name, rows = _by_name(folder), []
    for study, (labels, taught) in TEACHER_STUDIES.items():
        path = folder / "ablations" / f"{study}.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        decision = decide(record, ABLATIONS[study].rule)
        test_gain = None
        if taught in by_name and labels in by_name:
            test_gain = goal_figures(by_name[taught])["mean"] - goal_figures(by_name[labels])["mean"]
        rows.append({"study": study, "params": record["rows"][0]["params"], "val_gain": decision["gain"],
                     "val_se": decision["se"], "cleared": decision["cleared"], "test_gain": test_gain})
    return sorted(rows, key=lambda row: row["params"])


def print_teacher_gains(rows: list[dict]) -> None:
    """Print :func:`teacher_gains`, one line per searched winner."""
    for row in rows:
        test = ("no step trained it taught" if row["test_gain"] is None else
                f"on the test images {row['test_gain']:+.2f} points")
        print(f"{row['params']:,} parameters ({row['study']}): on validation {row['val_gain']:+.2f} ± "
              f"{row['val_se']:.2f} points ({'clears' if row['cleared'] else 'does not clear'} its rule); {test}")
