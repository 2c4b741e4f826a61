"""Reports: atomic writes, required keys, the summary table, plots."""

import json

import pytest

from mnist_course import reporting
from mnist_course.reporting import (REPORT_KEYS, atomic_write_text, build_report, load_reports, plot_history,
                                    save_report, summary_table, write_summary)

HISTORY = [
    {"epoch": 1, "train_loss": 0.5, "train_acc": 90.0, "test_loss": 0.1, "test_acc": 97.0, "lr": 0.1, "seconds": 2.0},
    {"epoch": 2, "train_loss": 0.1, "train_acc": 98.5, "test_loss": 0.05, "test_acc": 99.1, "lr": 0.1, "seconds": 2.0},
    {"epoch": 3, "train_loss": 0.05, "train_acc": 99.0, "test_loss": 0.06, "test_acc": 98.9, "lr": 0.1, "seconds": 2.0},
]


def make_report(notebook="01_setup", step="Step 1", params=1234, history=HISTORY):
    return build_report(step=step, notebook=notebook, model="M", params=params, history=history, quick=False,
                        device="cpu", seed=1, seconds=6.0, config={"lr": 0.1})


def test_report_has_the_required_keys_and_best_figures():
    report = make_report()
    assert set(REPORT_KEYS) <= set(report)
    assert (report["best_test_acc"], report["best_epoch"], report["final_test_acc"]) == (99.1, 2, 98.9)
    assert report["best_train_acc"] == 99.0 and report["epochs"] == 3


def test_save_writes_json_and_summary(tmp_path):
    save_report(make_report("02_skeleton", "Step 2", 18_000), tmp_path)
    save_report(make_report("01_setup", "Step 1", 168_000), tmp_path)
    (tmp_path / "benchmark.json").write_text('{"not": "a report"}')
    (tmp_path / "broken.json").write_text('{"half')
    assert json.loads((tmp_path / "01_setup.json").read_text())["params"] == 168_000
    summary = (tmp_path / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| 0")]
    assert [r.split("|")[1].strip() for r in rows] == ["01_setup", "02_skeleton"]
    assert "| 168,000 |" in rows[0] and "| 99.10 |" in rows[0]
    assert [r["notebook"] for r in load_reports(tmp_path)] == ["01_setup", "02_skeleton"]


def test_summary_table_is_built_from_the_json_files(tmp_path):
    for name in ("03_batchnorm", "01_setup"):
        (tmp_path / f"{name}.json").write_text(json.dumps(make_report(name)))
    write_summary(tmp_path)
    assert summary_table(load_reports(tmp_path)) in (tmp_path / "summary.md").read_text()


def test_missing_keys_are_refused(tmp_path):
    report = make_report()
    del report["seed"]
    with pytest.raises(ValueError, match="seed"):
        save_report(report, tmp_path)
    assert not list(tmp_path.iterdir())


def test_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "01_setup.json"
    atomic_write_text(path, '{"old": true}')

    def interrupted(src, dst):
        raise KeyboardInterrupt  # Ctrl-C between writing the temp file and replacing

    monkeypatch.setattr(reporting.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, '{"new": true, "much": "' + "x" * 100_000 + '"}')
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["01_setup.json"]  # no temp file left


def test_plot_is_saved_as_png(tmp_path):
    fig = plot_history(HISTORY, "test", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2


def test_readme_results_block_is_regenerated(tmp_path):
    save_report(make_report(), tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{reporting.README_START}\nold table\n{reporting.README_END}\noutro\n")
    assert reporting.update_readme_results(readme, tmp_path)
    text = readme.read_text()
    assert "old table" not in text and "| 01_setup | Step 1 | 1,234 |" in text
    assert text.startswith("intro\n") and text.endswith("outro\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers")
    assert not reporting.update_readme_results(plain, tmp_path) and plain.read_text() == "no markers"


def test_summary_separates_reference_runs_and_compares_with_published(tmp_path):
    save_report(make_report("04_capacity", "Step 4"), tmp_path)
    reference = make_report("r1_pytorch_example", "Reference 1")
    reference["published"] = [{"epoch": 1, "test_acc": 98.2}, {"epoch": 9, "test_acc": 99.14}]
    save_report(reference, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    steps, rest = text.split("## Reference set-ups")
    assert "| 04_capacity |" in steps and "r1_pytorch_example" not in steps
    assert "## Published vs reproduced" in rest
    assert "| r1_pytorch_example | M | 1 | 98.20 | 97.00 | -1.20 |" in rest
    assert "| r1_pytorch_example | M | 9 | 99.14 | not reached |  |" in rest


def test_test_once_report_uses_the_selected_epoch():
    history = [dict(row, val_acc=acc, test_acc=None) for row, acc in zip(HISTORY, (97.0, 98.0, 97.5))]
    report = build_report(step="R3", notebook="r3", model="M", params=1, history=history, quick=False,
                          device="cpu", seed=1, seconds=1.0, config={}, test_once=98.3)
    assert (report["best_test_acc"], report["final_test_acc"], report["best_epoch"]) == (98.3, 98.3, 2)


def test_plot_with_learning_rate_panel(tmp_path):
    fig = plot_history(HISTORY, "lr", tmp_path / "lr.png", show_lr=True)
    assert len(fig.axes) == 3 and (tmp_path / "lr.png").is_file()
