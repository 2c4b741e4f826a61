"""The course's charts, drawn from runs and reports (matplotlib): training curves with the
goal line and a zoom on the last epochs, the parameters-vs-accuracy chart of every
recorded step and reference set-up, and the comparison of several set-ups. Every
function returns its figure and saves a PNG when given a path (:func:`save_figure`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from .paths import atomic_write_bytes
from .results import (
    GOAL_MAX_PARAMS,
    GOAL_MIN_TEST_ACC,
    headline,
    mean_curve,
)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return atomic_write_bytes(path, buffer.getvalue())


# Where a point's label may go, in points from the point (dx, dy, alignment), in order
# of preference: above left, above right, below left, below right, then further up or down.
_LABEL_OFFSETS = ([(-6, 6, "right"), (6, 6, "left"), (-6, -14, "right"), (6, -14, "left")]
                  + [(dx, dy * k, ha) for k in range(2, 10)
                     for dx, dy, ha in ((-6, 10, "right"), (6, 10, "left"), (-6, -12, "right"), (6, -12, "left"))])


def _overlap(a: Bbox, b: Bbox) -> float:
    """The area (pixels^2) that two boxes share."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def label_points(ax, points: list[tuple[float, float, str]], fontsize: int = 8,
                 hlines: tuple[float, ...] = (), vlines: tuple[float, ...] = ()) -> list:
    """Annotate each (x, y, text) of ``points`` (data coordinates) beside its point, from
    the top point down: at the first offset of ``_LABEL_OFFSETS`` where the label stays
    inside the axes and overlaps no marker and no label placed before it; where none is
    free, at the offset with the least overlap. A label placed away from its point is
    joined to it by a thin line. ``hlines`` / ``vlines``: data coordinates of lines drawn
    across the axes, which labels avoid like markers. Call it once the axes' limits and
    the figure's layout are final. Returns the annotations."""
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    r = 5 * ax.figure.dpi / 72  # a marker: a square of 2 x 5 points around its point (in pixels)
    obstacles = [Bbox.from_extents(px - r, py - r, px + r, py + r)
                 for px, py in ax.transData.transform([(x, y) for x, y, _ in points])]
    for y in hlines:
        py = ax.transData.transform((1, y))[1]
        obstacles.append(Bbox.from_extents(inside.x0, py - 2, inside.x1, py + 2))
    for x in vlines:
        px = ax.transData.transform((x, 1))[0]
        obstacles.append(Bbox.from_extents(px - 2, inside.y0, px + 2, inside.y1))
    annotations = []
    for x, y, text in sorted(points, key=lambda p: -p[1]):
        scored = []
        for dx, dy, ha in _LABEL_OFFSETS:
            probe = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=fontsize)
            box = probe.get_window_extent(renderer)
            probe.remove()
            outside = box.width * box.height - _overlap(box, inside)
            scored.append((sum(_overlap(box, other) for other in obstacles) + outside, len(scored), dx, dy, ha, box))
            if scored[-1][0] == 0:
                break
        _, _, dx, dy, ha, box = min(scored)
        line = {"arrowprops": {"arrowstyle": "-", "lw": 0.5, "color": "grey"}} if abs(dy) > 14 else {}
        annotations.append(ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha,
                                       fontsize=fontsize, **line,
                                       bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 0.5}))
        obstacles.append(box)
    return annotations


def _short_label(report: dict) -> str:
    """A point's label: the step's name ("Step 4", "Step 5 <4,000") or the reference
    set-up's notebook name without its prefix number ("r1 classic")."""
    if "published" in report:
        number, _, variant = report["notebook"].partition("-")
        return number.split("_")[0] + (f" {variant}" if variant else "")
    return report["step"].replace(" budget)", ")").replace("(", "<").replace(")", "")


def plot_params_vs_accuracy(reports: list[dict], path: str | os.PathLike | None = None,
                            goal: float = GOAL_MIN_TEST_ACC, max_params: int = GOAL_MAX_PARAMS):
    """Parameters (log scale) against final-epoch test accuracy, mean with error bars
    (± one sample std; none for a single seed), one point per 10-class report, labelled
    by its step (or reference set-up); reports of the same model with the same figures
    (Step 5's 5,000 and 6,000 winners) share one point and one label. The goal's
    accuracy (``goal``, percent) and parameter budget (``max_params``) are drawn as
    dashed lines. Binary set-ups (``config["loss"] == "binary"``, e.g. "is it a 3?") are
    left out: their accuracy measures another task."""
    fig, ax = plt.subplots(figsize=(9, 5))
    points: dict[tuple, list[dict]] = {}
    for r in (r for r in reports if r.get("config", {}).get("loss") != "binary"):
        h = headline(r)
        points.setdefault((r["params"], h["mean"], h["std"], "published" in r), []).append(r)
    labels = []
    for (params, mean, std, is_reference), same in points.items():
        ax.errorbar(params, mean, yerr=std or 0.0, fmt="s" if is_reference else "o", capsize=4,
                    color="C1" if is_reference else "C0", label="reference set-up" if is_reference else "course step")
        names = [_short_label(r) for r in same]
        label = names[0] if len(names) == 1 else names[0] + ", " + ", ".join(n.split(" ", 2)[-1] for n in names[1:])
        labels.append((params, mean, label))
    ax.axhline(goal, color="black", ls="--", lw=1, label=f"goal: {goal:g}% (a 95% lower bound over seeds)")
    ax.axvline(max_params, color="gray", ls=":", lw=1, label=f"{max_params:,} parameters")
    ax.set_xscale("log")
    if labels:  # room on the left for the smallest models' labels
        ax.set_xlim(left=min(x for x, _, _ in labels) / 3)
    ax.set(xlabel="parameters (log scale)", ylabel="final test accuracy (%)",
           title="Parameters vs final-epoch test accuracy (mean ± std over seeds)")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="lower left", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    label_points(ax, labels, hlines=(goal,), vlines=(max_params,))  # after the layout: where the points finally are
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_front(rows: list[dict], path: str | os.PathLike | None = None, goal: float = GOAL_MIN_TEST_ACC):
    """The front: parameters against final-epoch test accuracy, one point per row of
    ``course.conclusion.front_rows`` (keys params, label, kind, stats with mean,
    lower_bound and n, in percent), the mean as a marker and a bar down to its one-sided
    95% lower bound, so a point meets the goal's accuracy where its bar ends above
    ``goal`` (the dashed line). Kind "labels" is blue, "taught" green, "reference" orange."""
    fig, ax = plt.subplots(figsize=(9, 5))
    labels, seen = [], set()
    for row in rows:
        s = row["stats"]
        kind = row["kind"]
        if (row["params"], s["mean"], kind) in seen:  # the same winner from two budgets: one point
            continue
        seen.add((row["params"], s["mean"], kind))
        color, marker = {"taught": ("C2", "D"), "reference": ("C1", "s"), "labels": ("C0", "o")}[kind]
        below = 0.0 if s["lower_bound"] is None else s["mean"] - s["lower_bound"]
        ax.errorbar(row["params"], s["mean"], yerr=[[below], [0.0]], fmt=marker, color=color, capsize=4,
                    label={"taught": "taught by the teacher", "reference": "reference set-up",
                           "labels": "trained on the labels"}[kind])
        labels.append((row["params"], s["mean"], f"{row['label'].split(':')[0]} (n = {s['n']})"))
    ax.axhline(goal, color="black", ls="--", lw=1, label=f"goal: the bar's end (95% lower bound) ≥ {goal:g}%")
    ax.set(xlabel="parameters", ylabel="final test accuracy (%)",
           title="The front: mean final-epoch test accuracy, the bar down to its 95% lower bound")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    ax.set_xlim(2000, 8500)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    label_points(ax, labels, hlines=(goal,))
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_runs(runs: list[dict], title: str, path: str | os.PathLike | None = None, show_lr: bool = False,
              goal: float | None = None, last_epochs: int = 5):
    """Loss and accuracy per epoch (train, and validation and/or test where the histories
    have them): the mean over ``runs`` as a line, min-max over them as a band. The
    accuracy axis is zoomed to epochs 2 onwards (epoch 1, often far lower, would flatten
    every later difference; the title says when it is off the axis); ``goal`` (percent)
    draws a dashed line there. Where the runs have a test accuracy and more than
    ``last_epochs`` epochs, a panel zooms on their last ``last_epochs`` epochs: each
    seed's test accuracy as a thin line, their mean as a thick one, and the goal. With
    ``show_lr`` a last panel shows the learning rate at each epoch's start (log scale).
    If ``path`` is given the figure is also saved there as PNG. Returns the figure."""
    zoom = runs[0]["history"][0].get("test_acc") is not None and len(runs[0]["history"]) > last_epochs
    panels = 2 + zoom + show_lr
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.6))
    ax_loss, ax_acc = axes[0], axes[1]
    acc_curves = []
    for i, split in enumerate(("train", "val", "test")):
        if runs[0]["history"][0].get(f"{split}_acc") is None:
            continue
        label = {"val": "validation"}.get(split, split)
        for ax, key in ((ax_loss, f"{split}_loss"), (ax_acc, f"{split}_acc")):
            curve = mean_curve(runs, key)
            ax.plot(curve["epoch"], curve["mean"], "o-", color=f"C{i}", markersize=3, label=label)
            if len(runs) > 1:
                ax.fill_between(curve["epoch"], curve["min"], curve["max"], color=f"C{i}", alpha=0.2)
        acc_curves.append(curve)
    if goal is not None:
        ax_acc.axhline(goal, color="black", ls="--", lw=1, label=f"goal {goal:g}%")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    n = f" (mean of {len(runs)} seeds, band: min-max)" if len(runs) > 1 else ""
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy" + n + _zoom_accuracy(ax_acc, acc_curves, goal))
    if zoom:
        _plot_last_epochs(axes[2], runs, goal, last_epochs)
    if show_lr:
        history = runs[0]["history"]
        axes[-1].semilogy([r["epoch"] for r in history], [r["lr"] for r in history], "o-", color="gray")
        axes[-1].set(xlabel="epoch", ylabel="learning rate", title="learning rate (epoch start)")
        axes[-1].grid(alpha=0.3)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def _plot_last_epochs(ax, runs: list[dict], goal: float | None, last_epochs: int) -> None:
    """Each run's test accuracy over its last ``last_epochs`` epochs (thin lines), their
    mean (thick) and the goal (dashed), on an axis that fits them."""
    values = []
    for r in runs:
        rows = r["history"][-last_epochs:]
        ax.plot([row["epoch"] for row in rows], [row["test_acc"] for row in rows], "-", color="C2", lw=0.8,
                alpha=0.5)
        values += [row["test_acc"] for row in rows]
    curve = mean_curve(runs, "test_acc")
    ax.plot(curve["epoch"][-last_epochs:], curve["mean"][-last_epochs:], "o-", color="C2", lw=2, markersize=4,
            label=f"mean of {len(runs)} seed{'s' if len(runs) > 1 else ''}")
    if goal is not None:
        ax.axhline(goal, color="black", ls="--", lw=1, label=f"goal {goal:g}%")
        values.append(goal)
    margin = 0.1 * (max(values) - min(values)) + 0.02
    ax.set_ylim(min(values) - margin, max(values) + margin)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"test accuracy, last {last_epochs} epochs (each seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _zoom_accuracy(ax, curves: list[dict], goal: float | None) -> str:
    """Limit the accuracy axis to the range of epochs 2 onwards (bands included) and the
    goal; returns a note for the title when epoch 1 falls below it ("" otherwise)."""
    later = [v for c in curves
             for e, low, high in zip(c["epoch"], c["min"], c["max"], strict=True) if e >= 2 for v in (low, high)]
    if not later:  # a single epoch: nothing to zoom to
        return ""
    shown = later + ([goal] if goal is not None else [])
    low, high = min(shown), max(shown)
    margin = 0.1 * (high - low) + 0.05
    bottom = low - margin
    ax.set_ylim(bottom, high + margin)
    first = min((v for c in curves for e, v in zip(c["epoch"], c["min"], strict=True) if e == 1), default=bottom)
    return f"\nepoch 1 (lowest {first:.1f}%) is below the axis" if first < bottom else ""


def plot_setups(setups: dict[str, list[dict]], title: str, published: list[dict] | None = None,
                path: str | os.PathLike | None = None):
    """Test accuracy per epoch of several set-ups side by side: for each name in
    ``setups`` (its ``runs``, one dict per seed) the mean over seeds as a line and the
    min-max as a band; ``published`` figures ({"epoch", "test_acc"} in percent) as black
    crosses. The axis is zoomed past epoch 1 as in :func:`plot_runs`. Saved as PNG at
    ``path`` if given. Returns the figure."""
    fig, ax = plt.subplots(figsize=(8, 4))
    curves = []
    for i, (name, runs) in enumerate(setups.items()):
        curve = mean_curve(runs, "test_acc")
        ax.plot(curve["epoch"], curve["mean"], "o-", color=f"C{i}", markersize=3, label=f"{name} (n = {len(runs)})")
        if len(runs) > 1:
            ax.fill_between(curve["epoch"], curve["min"], curve["max"], color=f"C{i}", alpha=0.2)
        curves.append(curve)
    points = [p for p in published or [] if p.get("epoch") is not None]
    if points:
        ax.plot([p["epoch"] for p in points], [p["test_acc"] for p in points], "kx", markersize=7, label="published")
        curves.append({"epoch": [p["epoch"] for p in points], "min": [p["test_acc"] for p in points],
                       "max": [p["test_acc"] for p in points]})
    ax.set(xlabel="epoch", ylabel="test accuracy (%)",
           title=title + " (mean over seeds, band: min-max)" + _zoom_accuracy(ax, curves, None))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_history(history: list[dict], title: str, path: str | os.PathLike | None = None, show_lr: bool = False):
    """:func:`plot_runs` for a single run's history."""
    return plot_runs([{"history": history}], title, path, show_lr)
