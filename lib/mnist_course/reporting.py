"""Recording results: one JSON file per notebook, a summary table, curve plots.

Every file is written atomically: the content goes to a temporary file in the same
folder, is flushed to disk, and then replaces the old file in one ``os.replace``.
A crash or Ctrl-C mid-write leaves the previous file complete.

Report files: ``reports/<notebook name>.json`` with the keys of :data:`REPORT_KEYS`
(accuracies in percent, 0-100), ``reports/<notebook name>_curves.png`` and
``reports/summary.md`` (generated from all JSON files in the folder).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from .data import REPO_ROOT

REPORT_KEYS = ("step", "params", "epochs", "best_train_acc", "best_test_acc", "final_test_acc",
               "best_epoch", "history", "quick", "device", "seed", "seconds", "torch_version")


def default_reports_dir(quick: bool = False) -> Path:
    """Where reports go: ``$MNIST_COURSE_REPORTS_DIR`` or ``<repo>/reports`` for full runs;
    a folder in the system's temp directory for quick runs, so they never overwrite
    recorded results."""
    if quick:
        return Path(tempfile.gettempdir()) / "mnist_course_quick_reports"
    env = os.environ.get("MNIST_COURSE_REPORTS_DIR")
    if env:
        return Path(env).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "reports"
    return Path.cwd() / "reports"


def default_checkpoint_dir(quick: bool = False) -> Path:
    """Where weight files go: ``<repo>/checkpoints`` (git-ignored), or a temp folder in quick mode."""
    if quick:
        return Path(tempfile.gettempdir()) / "mnist_course_quick_checkpoints"
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "checkpoints"
    return Path.cwd() / "checkpoints"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + os.replace); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; reports are ordinary readable files
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included: never leave the temp file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def build_report(*, step: str, notebook: str, model: str, params: int, history: list[dict],
                 quick: bool, device: str, seed: int, seconds: float, config: dict,
                 extra: dict | None = None, test_once: float | None = None) -> dict:
    """The report dict of one run. ``history`` as returned by ``training.fit``;
    ``seconds``: wall-clock time of the whole run; ``config``: the training settings.
    test_once: for a run that measured the test set once after model selection on
    validation (percent); best and final test accuracy are then that figure and
    best_epoch is the epoch of the best validation accuracy."""
    from .training import summarize  # local import: reporting does not need training otherwise

    if test_once is None:
        summary = summarize(history)
    else:
        best = max(history, key=lambda row: (row["val_acc"], -row["epoch"]))
        summary = {"best_train_acc": max(row["train_acc"] for row in history), "best_test_acc": test_once,
                   "best_epoch": best["epoch"], "final_test_acc": test_once}
    report = {
        "step": step,
        "notebook": notebook,
        "model": model,
        "params": params,
        "epochs": len(history),
        **summary,
        "history": history,
        "quick": bool(quick),
        "device": device,
        "seed": seed,
        "seconds": round(seconds, 1),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "config": config,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
    """All step reports in ``reports_dir``, sorted by notebook name. Files that are not
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


def summary_table(reports: list[dict]) -> str:
    """A markdown table with one row per report."""
    lines = ["| notebook | step | params | epochs | best train acc (%) | best test acc (%) | best epoch "
             "| final test acc (%) | device | seconds | quick |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in reports:
        lines.append(f"| {r['notebook']} | {r['step']} | {r['params']:,} | {r['epochs']} | {r['best_train_acc']:.2f} "
                     f"| {r['best_test_acc']:.2f} | {r['best_epoch']} | {r['final_test_acc']:.2f} | {r['device']} "
                     f"| {r['seconds']:.0f} | {'yes' if r['quick'] else 'no'} |")
    return "\n".join(lines)


def published_table(reports: list[dict]) -> str:
    """A markdown table pairing each published figure with the reproduced one
    (reports that carry a "published" list; see reference.compare_with_published)."""
    from .reference import compare_with_published

    lines = ["| notebook | model | epoch | published test acc (%) | reproduced test acc (%) | difference (points) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in reports:
        for row in compare_with_published(r, r.get("published") or []):
            epoch = "after selection" if row["epoch"] is None else row["epoch"]
            shown = ("not reached", "") if row["reproduced"] is None else (
                f"{row['reproduced']:.2f}", f"{row['difference']:+.2f}")
            lines.append(f"| {r['notebook']} | {r['model']} | {epoch} | {row['published']:.2f} | {shown[0]} | {shown[1]} |")
    return "\n".join(lines)


def write_summary(reports_dir: str | os.PathLike) -> Path:
    """(Re)write ``<reports_dir>/summary.md`` from the JSON reports in that folder:
    the course steps, the reference set-ups, and published vs reproduced figures."""
    reports = load_reports(reports_dir)
    steps = [r for r in reports if "published" not in r]
    references = [r for r in reports if "published" in r]
    text = ("# Course results\n\n"
            "Generated by `mnist_course.reporting.write_summary` from the JSON files in this folder; "
            "each row is one recorded run (single run, seed in the JSON). Accuracies in percent.\n\n"
            "## Steps\n\n" + summary_table(steps) + "\n")
    if references:
        text += ("\n## Reference set-ups\n\n" + summary_table(references) + "\n"
                 "\n## Published vs reproduced\n\nThe reproduced test accuracy at the epoch of each "
                 "published figure (single runs on both sides).\n\n" + published_table(references) + "\n")
    return atomic_write_text(Path(reports_dir) / "summary.md", text)


README_START = "<!-- results:start (generated from reports/summary.md by the course command) -->"
README_END = "<!-- results:end -->"


def replace_readme_block(readme: str | os.PathLike, start: str, end: str, text: str) -> bool:
    """Replace what lies between the marker lines ``start`` and ``end`` in ``readme``
    with ``text`` (atomically). Returns False, changing nothing, if a marker is missing."""
    readme = Path(readme)
    content = readme.read_text()
    if start not in content or end not in content:
        return False
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(readme, f"{head}{start}\n{text}\n{end}{tail}")
    return True


def update_readme_results(readme: str | os.PathLike, reports_dir: str | os.PathLike) -> bool:
    """Replace the block between README_START and README_END in ``readme`` with the
    summary tables of ``reports_dir``. Returns False (and changes nothing) if the file
    has no such block."""
    reports = load_reports(reports_dir)
    table = summary_table([r for r in reports if "published" not in r])
    references = [r for r in reports if "published" in r]
    if references:
        table += "\n\nReference set-ups, published vs reproduced:\n\n" + published_table(references)
    return replace_readme_block(readme, README_START, README_END, table)


def plot_history(history: list[dict], title: str, path: str | os.PathLike | None = None, show_lr: bool = False):
    """Loss and accuracy curves per epoch (train, and test and/or validation where the
    history has them) as a matplotlib figure; with ``show_lr`` a third panel shows the
    learning rate on a log scale. If ``path`` is given the figure is also saved there
    as PNG (atomically).
    """
    import io

    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3 if show_lr else 2, figsize=(14 if show_lr else 10, 3.6))
    ax_loss, ax_acc = axes[0], axes[1]
    for split in ("train", "val", "test"):
        if all(row.get(f"{split}_acc") is not None for row in history):
            label = {"val": "validation"}.get(split, split)
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], "o-", label=label)
            ax_acc.plot(epochs, [r[f"{split}_acc"] for r in history], "o-", label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if show_lr:
        axes[2].semilogy(epochs, [r["lr"] for r in history], "o-", color="gray")
        axes[2].set(xlabel="epoch", ylabel="learning rate", title="learning rate (epoch start)")
        axes[2].grid(alpha=0.3)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        atomic_write_bytes(path, buffer.getvalue())
    return fig
