"""Where files go, and writing them atomically. The ground module: it imports nothing
of this package, so every other module may import it without forming a cycle.

Folders (all relative to the repository when the package runs from a checkout,
else to the working directory):
    reports/        the recorded results: written only by the course command's recordings
                    (and benchmark.md / benchmark.json by the benchmark command, run_all.json,
                    the timed Run All of each notebook, by scripts/time_run_all.py)
    runs/           executed notebook copies and the reports of every other run
                    (``runs/reports/``: direct papermill runs, "Run All" in Jupyter,
                    runs with fewer epochs or seeds); git-ignored
    checkpoints/    weight files (state_dict); git-ignored
    <temp>/mnist_course_quick_*   quick-mode reports and weights, never kept

Training runs that may be interrupted are cached one JSON file per run
(:func:`cached_run`), so ablations and searches continue where they stopped; every
cache is keyed by :func:`run_key` (what was trained, the device type, torch and the code).

Every write is atomic: the content goes to a temporary file in the same folder, is
flushed to disk, and then replaces the old file in one ``os.replace``. A crash or
Ctrl-C mid-write leaves the previous file complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[3]


def _project_dir(name: str) -> Path:
    """``<repo>/<name>`` in a checkout (pyproject.toml beside lib/), else ``./<name>``."""
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / name
    return Path.cwd() / name


def recorded_reports_dir() -> Path:
    """``reports/``: the recorded full run that the notebooks, README and summary quote."""
    return _project_dir("reports")


def runs_dir() -> Path:
    """``runs/`` (git-ignored): executed notebook copies of the course command."""
    return _project_dir("runs")


def trial_reports_dir() -> Path:
    """``runs/reports/`` (git-ignored): where a notebook records unless told otherwise,
    so that trying a notebook never overwrites the recorded results in ``reports/``."""
    return runs_dir() / "reports"


def quick_dir(kind: str) -> Path:
    """A folder in the system's temp directory for quick-mode ``kind`` ("reports",
    "checkpoints"): quick runs are checks, and nothing of them is kept."""
    return Path(tempfile.gettempdir()) / f"mnist_course_quick_{kind}"


def checkpoint_dir(quick: bool = False) -> Path:
    """Where weight files go: ``checkpoints/`` (git-ignored), or a temp folder in quick mode."""
    return quick_dir("checkpoints") if quick else _project_dir("checkpoints")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + os.replace); returns the path.
    Creates missing parent folders. On any error, KeyboardInterrupt included, the old
    file (if any) is left as it was and no temp file remains."""
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
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def settings_key(settings: dict) -> str:
    """The first 12 hex digits of the SHA-256 of ``settings`` as sorted JSON: a file-name
    key for what determines a run."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def cached_run_path(folder: str | os.PathLike, settings: dict, seed: int) -> Path:
    """The file :func:`cached_run` keeps the run of ``settings`` and ``seed`` in."""
    return Path(folder) / f"{settings_key(settings)}-seed{seed}.json"


def cached_run(folder: str | os.PathLike, settings: dict, seed: int, train) -> tuple[dict, bool]:
    """The run of ``settings`` (a JSON-able dict of everything that determines it) with
    ``seed``: read from ``folder`` if an earlier call trained it, else ``train()`` (which
    returns a JSON-able dict), written there atomically. One file per run,
    ``<folder>/<first 12 hex digits of the settings' SHA-256>-seed<seed>.json``, holding
    the settings beside the run, so a file whose settings differ is never reused.
    Returns (run, trained_now)."""
    settings = json.loads(json.dumps(settings))  # as stored: tuples become lists, so a stored run matches
    path = cached_run_path(folder, settings, seed)
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("settings") == settings:
            return stored["run"], False
    run = train()
    atomic_write_text(path, json.dumps({"settings": settings, "run": run}) + "\n")
    return run, True


# The modules whose code decides a run's numbers: a cached run is reused only while all
# of them read as they did when it was trained (tests/test_paths.py keeps the list whole).
RUN_CODE = ("engine/models.py", "engine/reference_models.py", "engine/training.py", "engine/optim.py",
            "engine/data.py", "engine/augmentation.py", "experiments/reference.py")


def code_fingerprint() -> str:
    """The first 12 hex digits of the SHA-256 of the library's ``RUN_CODE`` files: part
    of a cached run's key, so that editing the model, the training loop or the data path
    retrains instead of replaying a run of other code; named in every new record."""
    digest = hashlib.sha256()
    for name in RUN_CODE:
        digest.update((Path(__file__).resolve().parents[1] / name).read_bytes())
    return digest.hexdigest()[:12]


def run_key(settings: dict, device_type: str) -> dict:
    """The one cache key of every cached training in the course (a step's seed, an
    ablation's row, a search's confirmation and record, a teacher): ``settings`` (what
    was trained: model, config, images) plus the device type ("cpu", "cuda", "mps"), the
    torch version and :func:`code_fingerprint`, so that a run of other code, another
    torch or another kind of device is trained again rather than replayed."""
    return {**settings, "device": device_type, "torch": torch.__version__, "code": code_fingerprint()}


def git_commit() -> str | None:
    """The checkout's commit (40 hex digits, "+changes" when tracked files differ from it),
    or None outside a git checkout or without git: what a record was made with."""
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,  # noqa: E731
                                           timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        return commit + ("+changes" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None

