"""The benchmark measures both pipelines on real data and renders only measured figures."""

import pytest
import torch

from mnist_course.apps.benchmark import readme_excerpt, recorded_step_configs, render, throughput
from mnist_course.engine.models import MODELS
from mnist_course.engine.reporting import build_report, save_report
from mnist_course.engine.results import summarize_run
from mnist_course.engine.training import TrainConfig, config_dict
from mnist_course.experiments.recipes import RECIPES


def test_throughput_and_report_on_a_few_batches(data_dir):
    result = throughput(data_dir, torch.device("cpu"), n_batches=3, repeats=2)
    assert result["ours"] > 0 and result["reference"] > 0
    assert len(result["runs"]["ours"]) == len(result["runs"]["reference"]) == 2
    assert abs(result["ratio"] - result["ours"] / result["reference"]) < 1e-9
    epochs = {"step4": {"seconds": 10.0, "train_seconds": 9.5, "eval_seconds": 0.5}}
    text = render({"throughput": result, "epochs": epochs, "device": "cpu (2 threads)", "device_type": "cpu",
                   "cpu_count": 2, "torch_version": torch.__version__, "python_version": "3", "platform": "x",
                   "finished_at": "now"})
    assert f"{result['ratio']:.2f}×" in text and "| step4 | 10.0 | 9.5 | 0.50 | 5.0% |" in text
    assert "No GPU was available" in text and "Not measured in this benchmark run" in text
    # The README's quote names the notebooks a recorded course run ran, not "all" of today's.
    recorded = {"notebooks": {"01_setup": {"seconds": 60.0}, "02_skeleton": {"seconds": 120.0}},
                "total_seconds": 180.0, "finished_at": "2026-11-23T02:48:03+00:00"}
    quote = readme_excerpt({"throughput": result, "epochs": epochs, "device": "cpu (2 threads)", "device_type": "cpu",
                            "cpu_count": 2, "torch_version": "x", "finished_at": "2026-11-24",
                            "recorded_course": recorded})
    assert "- The last full course run (2026-11-23): 3.0 min for its 2 notebooks (01_setup, 02_skeleton)." in quote


def test_epoch_timings_use_the_recorded_step_settings(tmp_path):
    history = [{"epoch": 1, "train_acc": 90.0, "test_acc": 98.0, "train_loss": 0.1, "test_loss": 0.1, "lr": 0.1}]
    for notebook, model, config in (("01_setup", "Step1Setup", TrainConfig(lr=0.02)),
                                    ("04_capacity", "Step4Capacity",
                                     TrainConfig(lr=0.1, schedule="onecycle", max_rotation=7.0))):
        save_report(build_report(step="S", notebook=notebook, model=model, params=1, quick=False, device="cpu",
                                 config={**config_dict(config), "removed_field": 1},  # older reports: ignored
                                 runs=[summarize_run(history, 1, 1.0)]), tmp_path)
    configs = recorded_step_configs(tmp_path)
    assert list(configs) == ["step1", "step4"]
    assert configs["step4"] == (TrainConfig(lr=0.1, schedule="onecycle", max_rotation=7.0), None, None)
    assert configs["step1"][0].lr == 0.02
    with pytest.raises(FileNotFoundError, match="no step reports"):
        recorded_step_configs(tmp_path / "empty")


def test_the_benchmark_times_each_step_model_as_its_notebook_trains_it():
    # The benchmark builds get_model(name): each step's class with its defaults, which is
    # the recipe's model only while no step recipe carries model keywords.
    steps = {r.model: r.model_kwargs for r in RECIPES.values() if r.model in MODELS}
    assert sorted(steps) == sorted(MODELS) and all(kwargs == {} for kwargs in steps.values())
