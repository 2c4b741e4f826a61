"""Helpers of the reference set-ups (notebooks/reference/): the well-known MNIST
set-ups that the course compares itself with. Their architectures are in
:mod:`mnist_course.models` beside the step models.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryConfusionMatrix,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
)

from .checkpoints import load_weights
from .data import MNISTSplit, batches
from .reference_models import REFERENCE_MODELS, get_reference_model
from .reporting import compare_with_published
from .results import best_epoch
from .training import TrainConfig, default_eval_batch_size, evaluate, fit

# Re-exported for the reference notebooks, which import them from here.
__all__ = ["REFERENCE_MODELS", "get_reference_model", "compare_with_published", "train_val_split",
           "one_vs_rest", "binary_metrics", "select_on_validation"]


def train_val_split(split: MNISTSplit, n_val: int, seed: int) -> tuple[MNISTSplit, MNISTSplit]:
    """Split ``split`` into (train, validation) with a fixed random permutation.

    n_val: images held out for validation (e.g. 12,000 of 60,000); seed: the
    permutation's seed, so the same images are held out on every run and machine.
    Raises ValueError unless 0 < n_val < len(split).
    """
    if not 0 < n_val < len(split):
        raise ValueError(f"n_val={n_val!r} is invalid; use 0 < n_val < {len(split)}")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed)).to(split.X.device)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (MNISTSplit(split.X[train_idx], split.y[train_idx]),
            MNISTSplit(split.X[val_idx], split.y[val_idx]))


def one_vs_rest(split: MNISTSplit, digit: int) -> MNISTSplit:
    """The same images with labels 1 where the label is ``digit``, else 0."""
    return MNISTSplit(split.X, (split.y == digit).long())


@torch.inference_mode()
def binary_metrics(model: nn.Module, split: MNISTSplit, batch_size: int | None = None) -> dict:
    """Accuracy, precision, recall and F1 (percent) and the confusion matrix of a
    one-logit model on a split with 0/1 labels; prediction = sigmoid(logit) > 0.5.

    confusion: [[true negatives, false positives], [false negatives, true positives]].
    batch_size: None picks ``training.default_eval_batch_size`` for the split's device.
    """
    batch_size = batch_size or default_eval_batch_size(split.X.device)
    was_training = model.training
    model.eval()
    predictions = torch.cat([model(X) > 0 for X, _ in batches(split, batch_size, shuffle=False)]).long().cpu()
    model.train(was_training)
    y = split.y.cpu()
    # Counted by torchmetrics; a class never predicted (or never present) scores 0, as in
    # scikit-learn's zero_division=0. BinaryConfusionMatrix: [[tn, fp], [fn, tp]].
    confusion = BinaryConfusionMatrix()(predictions, y).tolist()
    return {"acc": 100.0 * float(BinaryAccuracy()(predictions, y)),
            "precision": 100.0 * float(BinaryPrecision(zero_division=0)(predictions, y)),
            "recall": 100.0 * float(BinaryRecall(zero_division=0)(predictions, y)),
            "f1": 100.0 * float(BinaryF1Score(zero_division=0)(predictions, y)),
            "confusion": confusion}


def select_on_validation(model: nn.Module, train: MNISTSplit, val: MNISTSplit, test: MNISTSplit,
                         config: TrainConfig, weights_path) -> dict:
    """Train with model selection on validation, then measure the test set once.

    After every epoch the validation accuracy decides whether the weights are saved to
    ``weights_path`` (a state_dict file); after training the best weights are reloaded
    (``weights_only=True``) and only then is ``test`` evaluated.
    Returns {"history", "best_val_acc", "selected_epoch", "test": evaluate(...) dict}.
    """
    history = fit(model, train, None, config, val=val, best_weights=weights_path)
    best = best_epoch(history, "val")
    load_weights(model, weights_path)
    test_result = evaluate(model, test, config.eval_batch_size, config.loss)
    print(f"reloaded the epoch-{best['epoch']} weights (validation {best['val_acc']:.2f}%) from "
          f"{Path(weights_path).name}; test accuracy, measured once: {test_result['acc']:.2f}%")
    return {"history": history, "best_val_acc": best["val_acc"], "selected_epoch": best["epoch"],
            "test": test_result}
