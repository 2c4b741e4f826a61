"""Train the weights that ``mnist-course predict`` ships with, and record how they scored.

    python scripts/train_weights.py                      # Step 4's recipe, seed 1, CPU
    python scripts/train_weights.py --device cuda --data-dir ../shared/data
    python scripts/train_weights.py --teacher wide57k    # the teacher Steps 6 and 7 load

Trains Step 4's model exactly as its notebook trains the first seed (the recipe
``recipes.RECIPES["04_capacity"]``: all 60,000 training images, its fixed number of
epochs) and keeps the **final epoch's** weights: nothing is chosen on the test set,
which is evaluated after every epoch only for the record. Writes
``lib/mnist_course/weights/step4_capacity.pt`` (a state_dict, loaded with
``weights_only=True``) and ``step4_capacity.json`` beside it (model, recipe, seed,
parameters, per-epoch test accuracy, final test accuracy, torch version, device,
seconds). The test ``tests/test_predict.py`` checks that the committed weights still
score the recorded final test accuracy.

With ``--teacher NAME`` it writes a teacher of ``distill.TEACHERS`` instead, trained on
all 60,000 training images as a recording trains it (or taken from ``runs/teachers/``
where a recording left it): ``weights/teacher_<name>.pt`` and its record
(``distill.commit_teacher``), which Steps 6 and 7 then load instead of training it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from mnist_course.apps.predict import WEIGHTS_DIR
from mnist_course.course.steps import build_model
from mnist_course.engine.checkpoints import save_weights
from mnist_course.engine.data import load_mnist
from mnist_course.engine.models import count_params
from mnist_course.engine.paths import atomic_write_text
from mnist_course.engine.training import config_dict, device_name, evaluate, fit, piece_dict, resolve_device
from mnist_course.experiments.distill import TEACHERS, commit_teacher
from mnist_course.experiments.recipes import RECIPES

NOTEBOOK = "04_capacity"
STEM = "step4_capacity"  # the file names: step4_capacity.pt / .json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the seed of the run (default 1, the notebook's first)")
    parser.add_argument("--device", default="cpu", help='"cpu" (default), "cuda", "mps" or "auto"')
    parser.add_argument("--data-dir", default=None,
                        help="folder containing MNIST/ (default: $MNIST_DATA_DIR, else data/)")
    parser.add_argument("--out-dir", default=str(WEIGHTS_DIR), help="where the .pt and .json go")
    parser.add_argument("--teacher", choices=sorted(TEACHERS), help="write this teacher's weights instead")
    args = parser.parse_args(argv)

    if args.teacher:
        device = resolve_device(args.device, verbose=True)
        train, test = load_mnist(True, args.data_dir, device), load_mnist(False, args.data_dir, device)
        weights = commit_teacher(args.teacher, train, test, args.out_dir)
        meta = json.loads(weights.with_suffix(".json").read_text())
        print(f"wrote {weights.name} and {weights.with_suffix('.json').name}: {meta['params']:,} parameters, "
              f"final test accuracy {meta['final_test_acc']:.2f}%, trained in {meta['seconds']:.0f} s")
        return 0
    recipe = RECIPES[NOTEBOOK]
    device = resolve_device(args.device, verbose=True)
    train = load_mnist(True, args.data_dir, device)
    test = load_mnist(False, args.data_dir, device)
    model = build_model(recipe.model, args.seed, **recipe.model_kwargs).to(device)
    config = replace(recipe.config, seed=args.seed)
    start = time.perf_counter()
    history = fit(model, train, test, config, augment=recipe.augment, extras=recipe.extras)
    seconds = time.perf_counter() - start
    final = evaluate(model, test)  # the weights as saved: the final epoch's

    weights = save_weights(model.to("cpu"), Path(args.out_dir) / f"{STEM}.pt")
    meta = {
        "model": recipe.model,
        "model_kwargs": recipe.model_kwargs,
        "notebook": NOTEBOOK,
        "seed": args.seed,
        "params": count_params(model),
        "config": config_dict(config),
        **{k: piece_dict(v) for k, v in (("augment", recipe.augment), ("extras", recipe.extras)) if v is not None},
        "train_images": len(train),
        "test_acc_by_epoch": [round(row["test_acc"], 2) for row in history],
        "final_test_acc": round(final["acc"], 2),
        "final_test_correct": int(round(final["acc"] * len(test) / 100)),
        "test_images": len(test),
        "seconds": round(seconds, 1),
        "device": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    atomic_write_text(weights.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    print(f"wrote {weights.name} and {weights.with_suffix('.json').name}: {meta['params']:,} parameters, "
          f"final test accuracy {meta['final_test_acc']:.2f}% after {config.num_epochs} epochs, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
