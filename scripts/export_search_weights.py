"""Commit Step 5's searched winners as named, loadable models: copy the weights of each
recorded winner's seed-1 run into the package, beside a JSON that names its architecture.

    python scripts/export_search_weights.py          # after `python -m mnist_course --steps 05`

For every recorded ``reports/05_search-<budget>.json`` it finds the final-epoch weights
that the search's stage 3 kept for seed 1 (``search.retrain`` caches them under
``runs/search/runs/weights/``, keyed by the run's settings), checks that they score the
final test accuracy the report recorded for that run (nothing is chosen on the test set:
it is the final epoch of the recorded run), and writes
``lib/mnist_course/weights/search_<budget>.pt`` (a state_dict, a few tens of kB) and
``search_<budget>.json`` (``{"model": "searched", "architecture": ...}``, the training,
the recorded per-epoch test accuracy). ``mnist-course predict --weights search_5000``
and ``predict.load_model("search_5000")`` then load it; ``tests/test_predict.py`` checks
that each committed file still scores its recorded accuracy. Exits 1, writing nothing for
that budget, when the cached weights are missing (a fresh clone: re-run the Step 5
notebook with the course command first) or do not reproduce the report.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from mnist_course.apps.predict import WEIGHTS_DIR
from mnist_course.engine.checkpoints import load_weights, save_weights
from mnist_course.engine.data import load_mnist
from mnist_course.engine.models import Architecture, SearchNet, count_params
from mnist_course.engine.paths import atomic_write_text, recorded_reports_dir, runs_dir
from mnist_course.engine.training import config_from_record, evaluate
from mnist_course.experiments.search_stages import run_settings, trained_weights

SEED = 1  # the first recorded seed, as for Step 4's committed weights


def recorded_run_settings(report: dict) -> dict:
    """The settings the search's stage 3 keyed the recorded runs by, rebuilt from a report."""
    config, _, _ = config_from_record(report)  # a search's record has no augment or extras
    # The key holds today's torch and code (paths.run_key): run this right after the recording.
    device = "cpu" if report["device"].startswith("cpu") else "mps" if report["device"] == "mps" else "cuda"
    return run_settings(report["architecture"], config, report["train_images"], report["test_images"], "test",
                        device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder containing MNIST/ (default: $MNIST_DATA_DIR)")
    parser.add_argument("--cache-dir", default=str(runs_dir() / "search" / "runs"),
                        help="the search's run cache (default runs/search/runs/)")
    parser.add_argument("--out-dir", default=str(WEIGHTS_DIR), help="where the .pt and .json go")
    args = parser.parse_args(argv)

    test = load_mnist(False, args.data_dir, "cpu")
    failed = 0
    for path in sorted(recorded_reports_dir().glob("05_search-*.json")):
        report = json.loads(path.read_text())
        run = next(r for r in report["runs"] if r["seed"] == SEED)
        source = trained_weights(args.cache_dir, recorded_run_settings(report), SEED)
        if not source.is_file():
            print(f"{path.name}: no cached weights for seed {SEED} ({source.name}); re-run Step 5 with the "
                  f"course command first", file=sys.stderr)
            failed += 1
            continue
        model = load_weights(SearchNet(Architecture.from_dict(report["architecture"])), source).eval()
        acc = evaluate(model, test)["acc"]
        if abs(acc - run["final_test_acc"]) > 0.02:  # one test digit: the same weights, within float noise
            print(f"{path.name}: cached weights score {acc:.2f}%, the report says {run['final_test_acc']:.2f}%; "
                  f"not exported", file=sys.stderr)
            failed += 1
            continue
        stem = f"search_{report['budget']}"
        weights = save_weights(model, Path(args.out_dir) / f"{stem}.pt")
        meta = {
            "model": "searched",
            "architecture": report["architecture"],
            "notebook": report["notebook"],
            "budget": report["budget"],
            "seed": SEED,
            "params": count_params(model),
            "config": report["config"] | {"seed": SEED},
            "train_images": report["train_images"],
            "test_acc_by_epoch": [round(row["test_acc"], 2) for row in run["history"]],
            "final_test_acc": round(acc, 2),
            "final_test_correct": int(round(acc * len(test) / 100)),
            "test_images": len(test),
            "device": report["device"],
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
        atomic_write_text(weights.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
        print(f"wrote {weights.name} and {weights.with_suffix('.json').name}: {meta['params']:,} parameters, "
              f"final test accuracy {acc:.2f}% (seed {SEED}, as recorded in {path.name})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
