"""The run cache of paths.py: a run is reused only for the very settings it was trained with."""

import json
from pathlib import Path

from mnist_course.engine import paths
from mnist_course.engine.paths import cached_run, settings_key


def test_a_cached_run_is_reused_only_for_the_same_settings(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return {"final_val_acc": 99.1 + len(calls)}

    settings = {"architecture": {"before_pool": (8, 16)}, "config": {"lr": 0.1}}
    first, trained = cached_run(tmp_path, settings, 1, train)
    assert trained and first == {"final_val_acc": 100.1}
    again, trained = cached_run(tmp_path, settings, 1, train)  # tuples were stored as lists: still a match
    assert not trained and again == first and len(calls) == 1
    _, trained = cached_run(tmp_path, settings, 2, train)  # another seed is another run
    assert trained and len(calls) == 2
    _, trained = cached_run(tmp_path, {**settings, "config": {"lr": 0.2}}, 1, train)
    assert trained and len(calls) == 3
    stored = json.loads((tmp_path / f"{settings_key(settings)}-seed1.json").read_text())
    assert stored["settings"]["architecture"]["before_pool"] == [8, 16] and stored["run"] == first


def test_a_file_whose_settings_differ_is_not_reused(tmp_path):
    settings = {"a": 1}
    path = tmp_path / f"{settings_key(settings)}-seed1.json"
    path.write_text(json.dumps({"settings": {"a": 2}, "run": {"acc": 1.0}}))  # e.g. a key collision
    run, trained = cached_run(tmp_path, settings, 1, lambda: {"acc": 2.0})
    assert trained and run == {"acc": 2.0}


def test_the_code_fingerprint_covers_the_modules_that_decide_a_runs_numbers():
    """A cached run is replayed only while these files are unchanged (paths.run_key): the
    models, the training loop and what it imports to train (optimizer, data path), and the
    reference set-ups' networks and augmentation."""
    import ast

    from mnist_course.engine.paths import RUN_CODE
    package = Path(paths.__file__).parents[1]
    tree = ast.parse((package / "engine" / "training.py").read_text())
    imported = {f"engine/{node.module}.py" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 1}
    assert imported - {"engine/checkpoints.py"} <= set(RUN_CODE), imported  # saving weights changes no number
    assert {"engine/models.py", "engine/reference_models.py", "experiments/reference.py"} <= set(RUN_CODE)
    assert all((package / name).is_file() for name in RUN_CODE)
