"""Reports: atomic writes, required keys, the summary table over seeds, plots."""

import json

import pytest

from mnist_course.engine import paths
from mnist_course.engine.paths import atomic_write_text
from mnist_course.engine.plots import plot_history, plot_runs, plot_setups
from mnist_course.engine.reporting import (
    REPORT_KEYS,
    build_report,
    compare_with_published,
    format_published_comparison,
    format_seeds_at_epochs,
    load_reports,
    run_selected_on_validation,
    save_report,
    summary_table,
    write_summary,
)
from mnist_course.engine.results import aggregate, summarize_run

HISTORY = [
    {"epoch": 1, "train_loss": 0.5, "train_acc": 90.0, "test_loss": 0.1, "test_acc": 97.0, "lr": 0.1, "seconds": 2.0},
    {"epoch": 2, "train_loss": 0.1, "train_acc": 98.5, "test_loss": 0.05, "test_acc": 99.1, "lr": 0.1, "seconds": 2.0},
    {"epoch": 3, "train_loss": 0.05, "train_acc": 99.0, "test_loss": 0.06, "test_acc": 98.9, "lr": 0.1, "seconds": 2.0},
]


def shifted(points: float) -> list[dict]:
    return [dict(row, test_acc=row["test_acc"] + points) for row in HISTORY]


def make_report(notebook="01_setup", step="Step 1", params=1234, shifts=(0.0, 0.2)):
    runs = [summarize_run(shifted(s), seed=i + 1, seconds=6.0) for i, s in enumerate(shifts)]
    return build_report(step=step, notebook=notebook, model="M", params=params, runs=runs, quick=False,
                        device="cpu", config={"lr": 0.1})


def test_report_has_the_required_keys_and_the_headline_over_seeds():
    report = make_report()
    assert set(REPORT_KEYS) <= set(report)
    assert report["seeds"] == [1, 2] and report["epochs"] == 3
    assert report["final_test_acc_mean"] == pytest.approx(99.0)          # (98.9 + 99.1) / 2: final epochs
    assert report["final_test_acc_std"] == pytest.approx(0.2 / 2 ** 0.5)  # sample std of two values
    assert (report["final_test_acc_min"], report["final_test_acc_max"]) == (98.9, pytest.approx(99.1))
    assert report["last3_min_test_acc"] == 97.0
    assert report["best_test_acc_mean"] == pytest.approx(99.2)           # optimistic column only
    assert [r["seed"] for r in report["runs"]] == [1, 2] and report["runs"][0]["history"] == HISTORY


def test_save_writes_json_summary_and_chart(tmp_path):
    save_report(make_report("02_skeleton", "Step 2", 18_000), tmp_path)
    save_report(make_report("01_setup", "Step 1", 168_000), tmp_path)
    (tmp_path / "benchmark.json").write_text('{"not": "a report"}')
    (tmp_path / "broken.json").write_text('{"half')
    write_summary(tmp_path)
    assert json.loads((tmp_path / "01_setup.json").read_text())["params"] == 168_000
    summary = (tmp_path / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| 0")]
    assert [r.split("|")[1].strip() for r in rows] == ["01_setup", "02_skeleton"]
    # mean ± std, the 95% lower bound (99.00 - t(0.95, 1) 6.314 x 0.1414 / sqrt(2)), min, seeds holding 99.4%
    assert "| 168,000 |" in rows[0] and "| 99.00 ± 0.14 (n = 2) | 98.37 | 98.90 | 0 of 2 |" in rows[0]
    assert "optimistic" in summary and "final test acc (%), mean ± std (n)" in summary
    assert (tmp_path / "params_vs_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert [r["notebook"] for r in load_reports(tmp_path)] == ["01_setup", "02_skeleton"]


def test_summary_table_is_built_from_the_json_files(tmp_path):
    for name in ("03_batchnorm", "01_setup"):
        (tmp_path / f"{name}.json").write_text(json.dumps(make_report(name)))
    write_summary(tmp_path)
    assert summary_table(load_reports(tmp_path)) in (tmp_path / "summary.md").read_text()


def test_missing_keys_are_refused(tmp_path):
    report = make_report()
    del report["seeds"]
    with pytest.raises(ValueError, match="seeds"):
        save_report(report, tmp_path)
    assert not list(tmp_path.iterdir())


def test_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "01_setup.json"
    atomic_write_text(path, '{"old": true}')

    def interrupted(src, dst):
        raise KeyboardInterrupt  # Ctrl-C between writing the temp file and replacing

    monkeypatch.setattr(paths.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, '{"new": true, "much": "' + "x" * 100_000 + '"}')
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["01_setup.json"]  # no temp file left


def test_plots_are_saved_as_png(tmp_path):
    fig = plot_history(HISTORY, "test", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2
    fig = plot_runs(make_report()["runs"], "seeds", tmp_path / "seeds.png", show_lr=True)
    assert len(fig.axes) == 3 and "mean of 2 seeds" in fig.axes[1].get_title()


def test_the_published_log_is_compared_epoch_by_epoch_with_each_set_up():
    published = [{"epoch": 1, "test_acc": 98.2}, {"epoch": 3, "test_acc": 99.0}, {"epoch": 9, "test_acc": 99.14}]
    text = format_published_comparison({"a": make_report(), "b": make_report(shifts=(1.0,))}, published)
    lines = text.splitlines()
    assert lines[0].split() == ["epoch", "published", "a", "b"]
    assert lines[1].split() == ["1", "98.20%", "97.10%", "(-1.10)", "98.00%", "(-0.20)"]  # means of 97.0/97.2; 98.0
    assert lines[2].split() == ["3", "99.00%", "99.00%", "(+0.00)", "99.90%", "(+0.90)"]
    assert lines[3].split() == ["9", "99.14%", "–", "–"]  # not trained that long
    assert "mean over 1, 2 seed(s)" in lines[4]


def test_set_ups_are_drawn_side_by_side_with_the_published_figures(tmp_path):
    fig = plot_setups({"a": make_report()["runs"], "b": make_report(shifts=(0.5,))["runs"]}, "r",
                      published=[{"epoch": 3, "test_acc": 99.6}, {"epoch": None, "test_acc": 99.0}],
                      path=tmp_path / "setups.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n = 2)", "b (n = 1)", "published"]
    assert ax.get_ylim()[1] > 99.6  # the published point is inside the zoomed axis
    assert (tmp_path / "setups.png").is_file()


def test_the_accuracy_axis_zooms_past_epoch_1_and_shows_the_goal():
    ax = plot_runs(make_report()["runs"], "seeds", goal=99.4).axes[1]
    bottom, top = ax.get_ylim()
    assert 98.0 < bottom < 98.5 and 99.4 < top < 99.7  # epochs 2-3 span 98.5 (train) to 99.4 (the goal)
    assert "epoch 1 (lowest 90.0%) is below the axis" in ax.get_title()
    assert "goal 99.4%" in [t.get_text() for t in ax.get_legend().get_texts()]
    one_epoch = plot_runs([{"history": HISTORY[:1]}], "quick mode").axes[1]  # nothing to zoom to
    assert one_epoch.get_ylim()[0] < 97.0 and "below the axis" not in one_epoch.get_title()


def test_summary_separates_reference_runs_and_compares_with_published(tmp_path):
    save_report(make_report("04_capacity", "Step 4"), tmp_path)
    reference = make_report("r1_pytorch_example", "Reference 1")
    reference["published"] = [{"epoch": 1, "test_acc": 98.2}, {"epoch": 9, "test_acc": 99.14}]
    save_report(reference, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    steps, rest = text.split("## Reference set-ups")
    assert "| 04_capacity |" in steps and "r1_pytorch_example" not in steps
    assert "## Published vs reproduced" in rest
    # mean of 97.0 and 97.2; each seed's run took 6 s = 0.1 min on the CPU
    assert "| r1_pytorch_example | M | 1 | 98.20 | 97.10 | 2 | -1.10 | 0.1 | cpu |" in rest
    assert "| r1_pytorch_example | M | 9 | 99.14 | not reached | 2 |  | 0.1 | cpu |" in rest


def test_compare_with_published_uses_the_mean_over_seeds():
    report = make_report(shifts=(0.0, 0.4))
    rows = compare_with_published(report, [{"epoch": 2, "test_acc": 99.0}, {"epoch": None, "test_acc": 98.5}])
    assert rows[0]["reproduced"] == pytest.approx(99.3) and rows[0]["difference"] == pytest.approx(0.3)
    assert rows[1]["reproduced"] == pytest.approx(99.1)  # a once-measured figure: the final mean


def test_a_run_selected_on_validation_reports_the_once_measured_test_figure():
    history = [dict(row, val_acc=acc, test_acc=None) for row, acc in zip(HISTORY, (97.0, 98.0, 97.5), strict=True)]
    run = run_selected_on_validation(history, seed=1, seconds=1.0, test_acc=98.3)
    assert (run["final_test_acc"], run["best_epoch"], run["best_val_acc"]) == (98.3, 2, 98.0)
    assert run["last3_min_test_acc"] is None and run["best_test_acc"] is None  # no per-epoch test figures
    assert run["selected_train_acc"] == 98.5  # the chosen epoch's, not the last epoch's
    report = build_report(step="R3", notebook="r3", model="M", params=1, runs=[run], quick=False, device="cpu",
                          config={})
    assert report["best_test_acc_mean"] is None and "| – | cpu |" in summary_table([report])


def test_point_labels_of_a_dense_cluster_do_not_overlap():
    """Four models within a factor of 1.5 in size and 0.2 points in accuracy (Step 5's
    winners beside Step 4): every label stays inside the axes and clear of the others."""
    import matplotlib.pyplot as plt

    from mnist_course.engine.plots import label_points

    fig, ax = plt.subplots(figsize=(8, 4.5))
    points = [(7_824, 99.49, "04_capacity (n=5)"), (5_464, 99.39, "05_search-6000 (n=5)"),
              (4_688, 99.37, "05_search-5000 (n=5)"), (3_914, 99.33, "05_search-4000 (n=5)"),
              (168_098, 97.5, "01_setup (n=5)")]
    ax.scatter([p[0] for p in points], [p[1] for p in points])
    ax.set_xscale("log")
    ax.set_xlim(1_000, 300_000)
    fig.tight_layout()
    notes = label_points(ax, points)
    renderer = fig.canvas.get_renderer()
    boxes = [n.get_window_extent(renderer) for n in notes]
    assert sorted(n.get_text() for n in notes) == sorted(p[2] for p in points)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    frame = ax.get_window_extent(renderer)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    plt.close(fig)


def test_seeds_at_epochs_shows_each_seeds_figures_where_every_run_reached():
    def run(seed, accs):
        history = [{"epoch": i + 1, "train_acc": a - 1, "test_acc": a, "train_loss": 0.1, "test_loss": 0.1}
                   for i, a in enumerate(accs)]
        return summarize_run(history, seed, 1.0)

    runs = [run(1, [35.78, 90.0, 95.66]), run(2, [62.96, 96.17, 97.12])]
    lines = format_seeds_at_epochs(runs, [3, 1, 7], keys=("train_acc", "test_acc")).splitlines()
    assert "train after epoch 1" in lines[0] and "test after epoch 3" in lines[0] and "epoch 7" not in lines[0]
    assert lines[1].split() == ["1", "34.78%", "35.78%", "94.66%", "95.66%"]
    assert lines[2].split() == ["2", "61.96%", "62.96%", "96.12%", "97.12%"]
    with pytest.raises(ValueError, match="needs runs and epochs"):
        format_seeds_at_epochs(runs, [])


def test_the_device_comparison_pairs_each_notebook_with_its_other_recording():
    from mnist_course.engine.reporting import device_comparison_table

    def report(name, device, accs, seconds):
        runs = [{"seed": s, "seconds": seconds, "final_test_acc": a} for s, a in enumerate(accs, 1)]
        stats = aggregate(accs)
        return {"notebook": name, "params": 7824, "device": device, "seeds": [1, 2], "runs": runs,
                "final_test_acc_mean": stats["mean"], "final_test_acc_std": stats["std"],
                "final_test_acc_min": stats["min"], "final_test_acc_max": stats["max"], "last3_min_test_acc": 99.3}
    cpu = [report("04_capacity", "cpu", [99.4, 99.6], 200.0), report("05_search-5000", "cpu", [99.3, 99.3], 1.0)]
    gpu = [report("04_capacity", "gpu", [99.5, 99.5], 50.0)]
    table = device_comparison_table(cpu, gpu, labels=("CPU", "GPU")).splitlines()
    assert "final test acc (%), CPU | final test acc (%), GPU" in table[0]
    assert len(table) == 3, "one row: the notebook recorded on both"
    # the 95% lower bounds: 99.50 - t(0.95, 1) 6.314 x 0.1414 / sqrt(2) = 98.87 on the CPU; no spread on the GPU
    assert table[2] == ("| 04_capacity | 7,824 | 99.50 ± 0.14 (n = 2) | 99.50 ± 0.00 (n = 2) | 98.87 | 99.50 "
                        "| 200 | 50 | 4.0× |")
    assert device_comparison_table(cpu, []) == "No notebook is recorded on both machines."


def test_the_goal_lines_give_each_goal_steps_verdict_by_the_rule():
    from mnist_course.engine.reporting import goal_lines

    ten = [make_report("04_capacity", "Step 4", 7_824, shifts=[0.5 + 0.01 * i for i in range(10)])]
    line = goal_lines(ten + [make_report("01_setup", "Step 1", 168_000)])
    assert line.startswith("- **Step 4** (7,824 parameters, budget under 8,000): Goal met: the 95% lower bound ")
    assert "(n = 10), 95% lower bound" in line and "0 of 10 seeds held 99.4%" in line  # epoch 1 is in the last 3
    five = goal_lines([make_report("04_capacity", "Step 4", 7_824, shifts=[0.5] * 5)])
    assert "Goal not met: 5 seed(s): a goal claim needs at least 10." in five
    assert "8,000 parameters, not fewer than 8,000" in goal_lines([make_report("04_capacity", "Step 4", 8_000,
                                                                               shifts=[0.5] * 10)])


def test_what_we_learned_lists_the_main_path_in_order_with_each_change_and_verdict(tmp_path):
    from mnist_course.course.conclusion import learned_markdown

    for report in (make_report("04_capacity", "Step 4", 7_824, shifts=[0.6] * 10),
                   make_report("01_setup", "Step 1", 168_098),
                   make_report("05_search-5000", "Step 5 (5,000 budget)", 4_744),   # not on the main path
                   make_report("07_stretch", "Step 7", 3_914, shifts=[0.0] * 5)):   # open: under 4,000
        save_report(report, tmp_path)
    lines = learned_markdown(tmp_path).splitlines()
    assert [line.split("**")[1] for line in lines] == ["Step 1", "Step 4", "Step 7"]
    assert "168,098 parameters, final test accuracy 99.00% (n = 2)." in lines[0]
    assert "7,824 parameters (-160,274), final test accuracy 99.50% (+0.50 points; n = 10)." in lines[1]
    assert lines[1].endswith("Under 8,000 parameters: goal met (95% lower bound 99.50%, n = 10).")
    assert lines[2].startswith("- Open, **Step 7**: 3,914 parameters") and "goal not met" in lines[2]
    assert learned_markdown(tmp_path / "empty") == ""


def test_the_chart_labels_a_point_by_its_step_or_reference_number():
    from mnist_course.engine.plots import _short_label

    assert _short_label(make_report("05_search-4000", "Step 5 (4,000 budget)")) == "Step 5 <4,000"
    assert _short_label({**make_report("r1_pytorch_example-classic", "Reference 1"), "published": []}) == "r1 classic"
    assert _short_label({**make_report("r5_tiny_3762", "Reference 5"), "published": []}) == "r5"


def test_the_front_lists_each_recording_by_parameters_and_the_teacher_gain_on_test_and_validation(tmp_path):
    from mnist_course.course.conclusion import front_rows, teacher_gains

    for report in (make_report("06_teacher", "Step 6", 4_744, shifts=[0.6] * 10),
                   make_report("05_search-5000", "Step 5 (5,000 budget)", 4_744, shifts=[0.4] * 5),
                   make_report("05_search-3000", "Step 5 (3,000 budget)", 2_864, shifts=[0.3] * 5),
                   make_report("01_setup", "Step 1", 168_098)):                          # not on the front
        save_report(report, tmp_path)
    rows = front_rows(tmp_path)
    assert [r["notebook"] for r in rows] == ["05_search-3000", "05_search-5000", "06_teacher"]
    assert rows[1]["stats"]["mean"] == pytest.approx(98.9 + 0.4) and rows[1]["stats"]["n"] == 5
    assert rows[0]["train_acc"] == pytest.approx(99.0) and rows[0]["test_loss"] == pytest.approx(0.06)
    assert [r["kind"] for r in rows] == ["labels", "labels", "taught"]
    (tmp_path / "ablations").mkdir()
    agg = {"mean": 99.0, "std": 0.1, "n": 5}
    record = {"study": "05_search-distill", "rows": [
        {"name": "base", "params": 4_744, "final_val_acc": agg, "last3_min_val_acc": agg},
        {"name": "taught", "params": 4_744, "final_val_acc": {**agg, "mean": 99.2}, "diff_se": 0.05,
         "last3_min_val_acc": {**agg, "mean": 99.1}}]}
    (tmp_path / "ablations" / "05_search-distill.json").write_text(json.dumps(record))
    gains = teacher_gains(tmp_path)
    assert len(gains) == 1 and gains[0]["params"] == 4_744 and gains[0]["cleared"]  # +0.20 > 2 x 0.05
    assert gains[0]["val_gain"] == pytest.approx(0.2) and gains[0]["test_gain"] == pytest.approx(0.2)


@pytest.mark.records
def test_the_recorded_front_holds_every_budget_over_at_least_five_seeds():
    from mnist_course.course.conclusion import FRONT, TEACHER_STUDIES, front_rows, teacher_gains

    rows = front_rows()
    assert {r["notebook"] for r in rows} == set(FRONT)
    assert all(r["stats"]["n"] >= 5 for r in rows)
    assert [r["params"] for r in rows] == sorted(r["params"] for r in rows)
    assert {g["study"] for g in teacher_gains()} == set(TEACHER_STUDIES)
