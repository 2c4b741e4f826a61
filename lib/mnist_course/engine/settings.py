"""Checking a notebook's parameters and resolving quick mode.

A notebook's ``parameters`` cell holds literals that papermill may override
(``-p epochs 3``). The first code cell after it passes them to :func:`check_params`,
so a mistyped value fails there, with a message naming the parameter, the value and
what is valid, before any data is loaded.

Quick mode (for checking, not for results): the first 2,000 training and 1,000 test
images, one epoch, at most the first 2 seeds.
It is on when the ``quick`` parameter is True, or when it is None and the
environment variable ``MNIST_COURSE_QUICK`` is 1/true/yes. The repository's
``conftest.py`` sets that variable to 1 under pytest unless it is already set, so
``pytest --nbval-lax notebooks/`` is quick and ``MNIST_COURSE_QUICK=0 pytest ...`` is not.
Quick runs write their reports to a temp folder, never to ``reports/``.

Where a full run records: the ``reports_dir`` parameter if given, else ``runs/reports/``
(git-ignored). Only the course command's full runs update ``reports/``, by copying
there what its notebooks recorded (see :mod:`mnist_course.apps.runner`), so a direct
papermill run or "Run All" in Jupyter never overwrites the recorded results.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .data import resolve_data_dir
from .paths import REPO_ROOT, checkpoint_dir, quick_dir, runs_dir, trial_reports_dir
from .training import DEVICES

QUICK_ENV = "MNIST_COURSE_QUICK"
QUICK_TRAIN_IMAGES = 2_000  # quick mode: first 2,000 training images ...
QUICK_TEST_IMAGES = 1_000   # ... first 1,000 test images ...
QUICK_EPOCHS = 1            # ... for one epoch ...
QUICK_SEEDS = 2             # ... with at most the first 2 seeds (so the aggregation runs)


@dataclass
class RunSettings:
    """Checked settings of one notebook run."""

    epochs: int
    batch_size: int | None    # None: chosen by a search (Step 5)
    lr: float | None          # None: chosen by a search (Step 5)
    seeds: list[int]          # one training run per seed, in this order
    device: str
    data_dir: Path
    quick: bool
    train_limit: int | None   # images of the training split used (None: all 60,000)
    test_limit: int | None    # images of the test split used (None: all 10,000)
    reports_dir: Path
    checkpoint_dir: Path      # where weight files go (git-ignored checkpoints/; temp in quick mode)
    runs_cache: Path | None = None  # finished seeds' runs to replay (runs/seed_runs/); None: train every seed

    def describe(self) -> str:
        """One line naming the checked settings; folders relative to the repository."""
        where = "a temp folder (quick mode)" if self.quick else _shown(self.reports_dir)
        knobs = "" if self.batch_size is None else f"batch_size={self.batch_size} "
        knobs += "" if self.lr is None else f"lr={self.lr} "
        reuse = "" if self.runs_cache is None else f"; finished runs are replayed from {_shown(self.runs_cache)}"
        return (f"epochs={self.epochs} {knobs}seeds={self.seeds} "
                f"device={self.device!r} quick={self.quick}; reports go to {where}{reuse}")

    @property
    def seed(self) -> int:
        """The first seed: the one whose per-epoch lines a notebook prints (single-seed notebooks)."""
        return self.seeds[0]


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it, so outputs name no machine's folders."""
    path = Path(path).resolve()
    return f"{path.relative_to(REPO_ROOT)}/" if path.is_relative_to(REPO_ROOT) else str(path)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def list_hint(name: str, value) -> str:
    """The end of the error for a list parameter given as text: papermill's ``-p`` passes
    ``-p seeds "[1, 2]"`` as the string "[1, 2]"; ``-y "seeds: [1, 2]"`` (YAML) passes a list."""
    if not isinstance(value, str):
        return ""
    return f"; papermill's -p passes text, so give a list with -y \"{name}: {value}\""


def quick_from_env() -> bool:
    """True when ``MNIST_COURSE_QUICK`` is 1/true/yes (case-insensitive)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes")


def check_params(*, epochs, device, batch_size=None, lr=None, seeds=None, seed=None, data_dir=None, quick=None,
                 reports_dir=None, reuse_runs=False) -> RunSettings:
    """Validate notebook parameters and resolve quick mode, data and reports folders.

    epochs: int >= 1; batch_size: int >= 1; lr: number > 0 (learning rate); both may
    be None in a notebook that searches them (Step 5);
    seeds: a non-empty list of distinct ints (one training run each), or, for a
    single-seed notebook, seed: an int (give exactly one of the two); device: "auto",
    "cpu", "cuda", "cuda:N" or "mps"; data_dir: folder containing MNIST/ or None
    (MNIST_DATA_DIR, else <repo>/data); quick: bool or None (from MNIST_COURSE_QUICK);
    reports_dir: folder for this run's reports, or None for runs/reports/ (ignored in
    quick mode, which records to a temp folder); reuse_runs: bool, True to replay a
    seed's finished full-data run from ``runs/seed_runs/`` (git-ignored) when its model,
    settings, data, device type, torch and library code are the same
    (``steps.train_seeds``); never in quick mode.
    Raises ValueError naming the parameter, its value and what is valid.
    """
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is invalid; use a whole number >= 1 (e.g. epochs=15)")
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r} is invalid; use a whole number >= 1 (e.g. batch_size=128)")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr)
                           or lr <= 0):
        raise ValueError(f"lr={lr!r} is invalid; use a learning rate > 0 (e.g. lr=0.01)")
    if (seeds is None) == (seed is None):
        raise ValueError(f"give seeds (a list, e.g. seeds=[1, 2, 3, 4, 5]) or seed (an int), not "
                         f"{'both' if seeds is not None else 'neither'}")
    if seed is not None:
        if not _is_int(seed):
            raise ValueError(f"seed={seed!r} is invalid; use a whole number (e.g. seed=1)")
        seeds = [seed]
    if (not isinstance(seeds, (list, tuple)) or not seeds or not all(_is_int(s) for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ValueError(f"seeds={seeds!r} is invalid; use a non-empty list of distinct whole numbers "
                         f"(e.g. seeds=[1, 2, 3, 4, 5]){list_hint('seeds', seeds)}")
    if not isinstance(device, str) or device.split(":")[0] not in DEVICES or (
            ":" in device and not (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device={device!r} is invalid; valid: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"data_dir={data_dir!r} is invalid; use a folder path (str) or None")
    if reports_dir is not None and not isinstance(reports_dir, (str, os.PathLike)):
        raise ValueError(f"reports_dir={reports_dir!r} is invalid; use a folder path (str) or None "
                         f"(None: runs/reports/)")
    if quick is not None and not isinstance(quick, bool):
        raise ValueError(f"quick={quick!r} is invalid; use True, False or None (None: from {QUICK_ENV})")
    if not isinstance(reuse_runs, bool):
        raise ValueError(f"reuse_runs={reuse_runs!r} is invalid; use True (replay finished runs from "
                         f"runs/seed_runs/) or False (train every seed)")
    quick = quick_from_env() if quick is None else quick
    if quick:
        reports = quick_dir("reports")
    else:
        reports = Path(reports_dir).expanduser() if reports_dir not in (None, "") else trial_reports_dir()
    return RunSettings(
        epochs=QUICK_EPOCHS if quick else epochs,
        batch_size=batch_size, lr=None if lr is None else float(lr),
        seeds=list(seeds[:QUICK_SEEDS] if quick else seeds),
        device=device, data_dir=resolve_data_dir(data_dir), quick=quick,
        train_limit=QUICK_TRAIN_IMAGES if quick else None,
        test_limit=QUICK_TEST_IMAGES if quick else None,
        reports_dir=reports,
        checkpoint_dir=checkpoint_dir(quick),
        runs_cache=runs_dir() / "seed_runs" if reuse_runs and not quick else None,
    )
