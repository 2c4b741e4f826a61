"""Step 5's charts: Optuna's views of one study (history, importances), and what each budget bought."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

from ..engine.plots import save_figure


def plot_search(study: optuna.Study, path: str | Path | None = None) -> list:
    """Optuna's own matplotlib plots of one study: the optimisation history (each
    completed proxy run's final validation accuracy, and the best so far) and, with at
    least 2 completed trials, the parameter importances (Optuna's default evaluator;
    its warnings about settings tried fewer than twice are silenced). With ``path`` each is
    also saved as ``<path>_history.png`` / ``<path>_importances.png``. Returns the figures."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots = [("history", plot_optimization_history)] + ([("importances", plot_param_importances)]
                                                        if len(done) >= 2 else [])
    figures = []
    for name, plot in plots:
        with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", "Some regimes for parameter", UserWarning)
            ax = plot(study)
        ax.set_title(f"{study.study_name}: {ax.get_title().lower()}")
        fig = ax.figure
        fig.set_size_inches(7, 3.6)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, f"{path}_{name}.png")
        figures.append(fig)
    return figures


def plot_front(results: dict, reference: dict | None = None, path: str | Path | None = None):
    """What each budget bought. Left: every completed proxy run of every study,
    parameters (log scale) against final validation accuracy, a dashed line at each
    budget. Right: each budget's winner trained on all 60,000 images, final-epoch test
    accuracy mean with min-max bars over its seeds, and ``reference`` (a step's report,
    e.g. Step 4's) for comparison; the 99.4% goal dashed. results: {budget:
    :func:`search_budget`'s result}. Saved as PNG at ``path`` if given. Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for budget, result in sorted(results.items()):
        done = [t for t in result["study"].trials if t.state == optuna.trial.TrialState.COMPLETE]
        line = left.scatter([t.user_attrs["params"] for t in done], [t.value for t in done], s=14,
                            label=f"budget {budget:,}")
        left.axvline(budget, ls="--", lw=0.8, color=line.get_facecolor()[0])
        accs = [r["final_test_acc"] for r in result["runs"]]
        mean = sum(accs) / len(accs)
        right.errorbar([result["winner"]["params"]], [mean], yerr=[[mean - min(accs)], [max(accs) - mean]],
                       fmt="o", capsize=3, label=f"budget {budget:,} (n = {len(accs)})")
    if reference is not None:
        accs = [r["final_test_acc"] for r in reference["runs"]]
        mean = sum(accs) / len(accs)
        right.errorbar([reference["params"]], [mean], yerr=[[mean - min(accs)], [max(accs) - mean]], fmt="s",
                       color="black", capsize=3, label=f"{reference['step']} (n = {len(accs)})")
    right.axhline(99.4, ls="--", lw=0.8, color="grey")
    for ax, ylabel, title in ((left, "final validation accuracy (%)", "the search: proxy runs"),
                              (right, "final test accuracy (%)", "the record: winners, all 60,000 images")):
        ax.set(xscale="log", xlabel="parameters (log scale)", ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
