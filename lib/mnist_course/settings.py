"""Checking a notebook's parameters and resolving quick mode.

A notebook's ``parameters`` cell holds literals that papermill may override
(``-p epochs 3``). The first code cell after it passes them to :func:`check_params`,
so a mistyped value fails there, with a message naming the parameter, the value and
what is valid, before any data is loaded.

Quick mode (for checking, not for results): a slice of the data for one epoch.
It is on when the ``quick`` parameter is True, or when it is None and the
environment variable ``MNIST_COURSE_QUICK`` is 1/true/yes. The repository's
``conftest.py`` sets that variable to 1 under pytest unless it is already set, so
``pytest --nbval-lax notebooks/`` is quick and ``MNIST_COURSE_QUICK=0 pytest ...`` is not.
Quick runs write their reports to a temp folder, never to ``reports/``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .data import resolve_data_dir
from .reporting import default_checkpoint_dir, default_reports_dir
from .training import DEVICES

QUICK_ENV = "MNIST_COURSE_QUICK"
QUICK_TRAIN_IMAGES = 2_000  # quick mode: first 2,000 training images ...
QUICK_TEST_IMAGES = 1_000   # ... first 1,000 test images ...
QUICK_EPOCHS = 1            # ... for one epoch


@dataclass
class RunSettings:
    """Checked settings of one notebook run."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str
    data_dir: Path
    quick: bool
    train_limit: int | None   # images of the training split used (None: all 60,000)
    test_limit: int | None    # images of the test split used (None: all 10,000)
    reports_dir: Path
    checkpoint_dir: Path      # where weight files go (git-ignored checkpoints/; temp in quick mode)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def quick_from_env() -> bool:
    """True when ``MNIST_COURSE_QUICK`` is 1/true/yes (case-insensitive)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes")


def check_params(*, epochs, batch_size, lr, seed, device, data_dir=None, quick=None,
                 reports_dir=None) -> RunSettings:
    """Validate notebook parameters and resolve quick mode, data and reports folders.

    epochs: int >= 1; batch_size: int >= 1; lr: number > 0 (learning rate);
    seed: int; device: "auto", "cpu", "cuda", "cuda:N" or "mps"; data_dir: folder
    containing MNIST/ or None (MNIST_DATA_DIR, else <repo>/data); quick: bool or
    None (from MNIST_COURSE_QUICK); reports_dir: folder or None (default folder).
    Raises ValueError naming the parameter, its value and what is valid.
    """
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is invalid; use a whole number >= 1 (e.g. epochs=15)")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; use a whole number >= 1 (e.g. batch_size=128)")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr={lr!r} is invalid; use a learning rate > 0 (e.g. lr=0.01)")
    if not _is_int(seed):
        raise ValueError(f"seed={seed!r} is invalid; use a whole number (e.g. seed=1)")
    if not isinstance(device, str) or device.split(":")[0] not in DEVICES or (
            ":" in device and not (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device={device!r} is invalid; valid: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"data_dir={data_dir!r} is invalid; use a folder path (str) or None")
    if quick is not None and not isinstance(quick, bool):
        raise ValueError(f"quick={quick!r} is invalid; use True, False or None (None: from {QUICK_ENV})")
    quick = quick_from_env() if quick is None else quick
    return RunSettings(
        epochs=QUICK_EPOCHS if quick else epochs,
        batch_size=batch_size, lr=float(lr), seed=seed, device=device,
        data_dir=resolve_data_dir(data_dir), quick=quick,
        train_limit=QUICK_TRAIN_IMAGES if quick else None,
        test_limit=QUICK_TEST_IMAGES if quick else None,
        reports_dir=Path(reports_dir) if reports_dir and not quick else default_reports_dir(quick),
        checkpoint_dir=default_checkpoint_dir(quick),
    )
