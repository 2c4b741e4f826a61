"""The calls every step notebook makes, so the notebooks stay markdown plus a few lines.

    run = check_params(...)                        # settings.py: validated parameters
    device, train, test = load_data(run)           # real MNIST on the device
    model = build_model("step4", run.seed)         # seeded, so the init repeats
    show_model(model)                              # torchinfo summary + RF table
    history = fit(model, train, test, config)      # training.py
    report = record(run, ...)                      # reports/<notebook>.json, PNG, summary.md
"""

from __future__ import annotations

import torch
from torch import nn

from .data import RAW_FILES, load_mnist
from .models import count_params, format_layer_table, get_model, layer_table
from .reporting import build_report, plot_history, save_report
from .settings import RunSettings
from .training import TrainConfig, config_dict, device_name, resolve_device, set_seed

TRAIN_IMAGES = RAW_FILES["train-labels-idx1-ubyte"][1]  # 60,000
TEST_IMAGES = RAW_FILES["t10k-labels-idx1-ubyte"][1]     # 10,000

# The course goal, met by Step 4.
GOAL_MAX_PARAMS = 8_000    # fewer than this many parameters
GOAL_MIN_TEST_ACC = 99.4   # percent, best test accuracy
GOAL_MAX_EPOCHS = 15       # reached within this many epochs


def load_data(run: RunSettings):
    """Resolve the device and load both splits onto it; prints what was loaded.

    Returns (device, train split, test split). Raises what ``load_mnist`` and
    ``resolve_device`` raise (missing files, unavailable device).
    """
    device = resolve_device(run.device, verbose=True)
    train = load_mnist(True, run.data_dir, device, limit=run.train_limit)
    test = load_mnist(False, run.data_dir, device, limit=run.test_limit)
    mode = "QUICK MODE (a slice for checking; results are not recorded)" if run.quick else "full data"
    print(f"train X {tuple(train.X.shape)}, test X {tuple(test.X.shape)} on {device_name(device)}; {mode}")
    return device, train, test


def build_model(name: str, seed: int, **kwargs) -> nn.Module:
    """A freshly initialised model ``name`` ("step1" ... "step4") with torch seeded by ``seed``."""
    set_seed(seed)
    return get_model(name, **kwargs)


def show_model(model: nn.Module, rf_table: bool = True) -> int:
    """Print the torchinfo summary and (with ``rf_table``) the shape / receptive-field
    table; return the parameter count. Runs on the CPU so the output is the same on every
    machine. The RF table needs a model whose top-level layers run in order (the step
    models); models with functional steps in ``forward`` pass ``rf_table=False``."""
    from torchinfo import summary

    model_cpu = model.to("cpu")
    # The dummy forward pass must not change the run: mode="eval" keeps BatchNorm's
    # running statistics as they are, and fork_rng restores the random stream that
    # torchinfo draws its input from (dropout in training draws from the same stream).
    with torch.random.fork_rng(devices=[]):
        print(summary(model_cpu, input_size=(1, 1, 28, 28), device="cpu", verbose=0, mode="eval",
                      col_names=("output_size", "num_params"), row_settings=("var_names",)))
    if rf_table:
        print()
        print(format_layer_table(layer_table(model_cpu)))
    return count_params(model_cpu)


def record(run: RunSettings, *, notebook: str, step: str, model_name: str, model: nn.Module,
           history: list[dict], seconds: float, config: TrainConfig, device: torch.device,
           extra: dict | None = None, test_once: float | None = None) -> dict:
    """Build the report of this run, save JSON + curves PNG + summary.md, print the Results.

    Quick runs are saved under a temp folder (``run.reports_dir``), never ``reports/``.
    extra: more keys for the JSON (e.g. "published"); test_once: see ``build_report``.
    Returns the report dict.
    """
    report = build_report(step=step, notebook=notebook, model=model_name, params=count_params(model),
                          history=history, quick=run.quick, device=device_name(device), seed=run.seed,
                          seconds=seconds, config=config_dict(config), test_once=test_once,
                          extra={"train_images": run.train_limit or TRAIN_IMAGES, "test_images": run.test_limit or TEST_IMAGES,
                                 **(extra or {})})
    path = save_report(report, run.reports_dir)
    import matplotlib.pyplot as plt

    plt.close(plot_history(history, f"{notebook}: {model_name}", run.reports_dir / f"{notebook}_curves.png",
                           show_lr=config.schedule != "constant"))
    print(f"Parameters:          {report['params']:,}")
    print(f"Best train accuracy: {report['best_train_acc']:.2f}%")
    print(f"Best test accuracy:  {report['best_test_acc']:.2f}% (epoch {report['best_epoch']} of {report['epochs']})")
    print(f"Final test accuracy: {report['final_test_acc']:.2f}%")
    print(f"Time:                {report['seconds']:.0f} s on {report['device']}")
    print(f"Report:              {path.name} in {'a temp folder (quick mode)' if run.quick else 'reports/'}")
    return report


def goal_check(report: dict) -> bool:
    """Print and return whether a run meets the course goal: < 8,000 parameters and
    >= 99.4% test accuracy within 15 epochs."""
    within = [row for row in report["history"] if row["epoch"] <= GOAL_MAX_EPOCHS]
    best = max(row["test_acc"] for row in within)
    checks = {f"parameters {report['params']:,} < {GOAL_MAX_PARAMS:,}": report["params"] < GOAL_MAX_PARAMS,
              f"best test accuracy within {GOAL_MAX_EPOCHS} epochs {best:.2f}% >= {GOAL_MIN_TEST_ACC}%":
                  best >= GOAL_MIN_TEST_ACC}
    for text, ok in checks.items():
        print(f"[{'x' if ok else ' '}] {text}")
    met = all(checks.values())
    print("Goal met." if met else "Goal not met" + (" (quick mode: not expected)" if report["quick"] else "."))
    return met
