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
                 extra: dict | None = None) -> dict:
    """The report dict of one run. ``history`` as returned by ``training.fit``;
    ``seconds``: wall-clock time of the whole run; ``config``: the training settings."""
    from .training import summarize  # local import: reporting does not need training otherwise

    report = {
        "step": step,
        "notebook": notebook,
        "model": model,
        "params": params,
        "epochs": len(history),
        **summarize(history),
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


def write_summary(reports_dir: str | os.PathLike) -> Path:
    """(Re)write ``<reports_dir>/summary.md`` from the JSON reports in that folder."""
    reports = load_reports(reports_dir)
    text = ("# Course results\n\n"
            "Generated by `mnist_course.reporting.write_summary` from the JSON files in this folder; "
            "each row is one recorded run (single run, seed in the JSON). Accuracies in percent.\n\n"
            + summary_table(reports) + "\n")
    return atomic_write_text(Path(reports_dir) / "summary.md", text)


README_START = "<!-- results:start (generated from reports/summary.md by the course command) -->"
README_END = "<!-- results:end -->"


def update_readme_results(readme: str | os.PathLike, reports_dir: str | os.PathLike) -> bool:
    """Replace the block between README_START and README_END in ``readme`` with the
    summary table of ``reports_dir``. Returns False (and changes nothing) if the file
    has no such block."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    table = summary_table(load_reports(reports_dir))
    atomic_write_text(readme, f"{head}{README_START}\n{table}\n{README_END}{tail}")
    return True


def plot_history(history: list[dict], title: str, path: str | os.PathLike | None = None):
    """Loss and accuracy curves (train and test, per epoch) as a matplotlib figure.

    If ``path`` is given the figure is also saved there as PNG (atomically).
    """
    import io

    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in history], "o-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, [r["train_acc"] for r in history], "o-", label="train")
    ax_acc.plot(epochs, [r["test_acc"] for r in history], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
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
