"""Well-known MNIST set-ups that the course compares itself with (notebooks/reference/).

Each class follows its published description layer for layer; the docstring names
the set-up. Inputs are X: (N, 1, 28, 28) normalised images, as everywhere in the
course; outputs are logits (N, 10), except ``IsThreeCNN``, which returns one logit
per image (N,) for "is it a 3?" (sigmoid(logit) > 0.5 <=> logit > 0).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class PyTorchExampleNet(nn.Module):
    """The classic pytorch/examples MNIST network (2 conv + 2 fully connected layers).

    Returns log-probabilities (N, 10), as the original does for its NLL loss; since
    log_softmax is idempotent, cross-entropy on them equals NLL on them.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)   # 28 -> 24
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)  # 12 -> 8
        self.conv2_drop = nn.Dropout2d()               # drops whole feature maps, p = 0.5
        self.fc1 = nn.Linear(320, 50)                  # 320 = 20 channels x 4 x 4
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):                                             # (N, 1, 28, 28)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))                    # (N, 10, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))   # (N, 20, 4, 4)
        x = x.flatten(1)                                              # (N, 320)
        x = F.relu(self.fc1(x))                                       # (N, 50)
        x = F.dropout(x, training=self.training)                      # p = 0.5
        return F.log_softmax(self.fc2(x), dim=1)                      # (N, 10) log-probabilities


class Wide593K(nn.Module):
    """The wide 593,200-parameter network: four 3x3 convs (32-64-128-256), two MaxPools,
    and a 4096 -> 50 -> 10 fully connected head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)     # 28 -> 26
        self.conv2 = nn.Conv2d(32, 64, 3)    # 26 -> 24
        self.pool1 = nn.MaxPool2d(2)         # 24 -> 12
        self.conv3 = nn.Conv2d(64, 128, 3)   # 12 -> 10
        self.conv4 = nn.Conv2d(128, 256, 3)  # 10 -> 8
        self.pool2 = nn.MaxPool2d(2)         # 8 -> 4
        self.fc1 = nn.Linear(4096, 50)       # 4096 = 256 channels x 4 x 4
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))      # (N, 64, 24, 24)
        x = self.pool1(x)                                  # (N, 64, 12, 12)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))      # (N, 256, 8, 8)
        x = self.pool2(x).flatten(1)                       # (N, 4096)
        return self.fc2(F.relu(self.fc1(x)))               # (N, 10) logits


class FullyConnected(nn.Module):
    """A fully connected network 784 -> 512 -> 256 -> 10 with dropout 0.2."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):                          # (N, 1, 28, 28)
        x = x.flatten(1)                           # (N, 784)
        x = self.drop(F.relu(self.fc1(x)))         # (N, 512)
        x = self.drop(F.relu(self.fc2(x)))         # (N, 256)
        return self.fc3(x)                         # (N, 10) logits


class SmallCNN(nn.Module):
    """Two padded 3x3 convs (16, 32 maps) with MaxPool, then 1568 -> 128 -> 64 -> 10
    with dropout 0.2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)   # 28 -> 28
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)  # 14 -> 14
        self.fc1 = nn.Linear(32 * 7 * 7, 128)         # 1568 = 32 channels x 7 x 7
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)         # (N, 16, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)         # (N, 32, 7, 7)
        x = x.flatten(1)                                   # (N, 1568)
        x = self.drop(F.relu(self.fc1(x)))                 # (N, 128)
        x = self.drop(F.relu(self.fc2(x)))                 # (N, 64)
        return self.fc3(x)                                 # (N, 10) logits


class IsThreeCNN(nn.Module):
    """One-vs-rest "is it a 3?": 5x5 convs with 16 and 32 maps, MaxPool and ReLU,
    dropout, a 256-unit fully connected layer and one output logit per image."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)      # 28 -> 24
        self.conv2 = nn.Conv2d(16, 32, 5)     # 12 -> 8
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32 * 4 * 4, 256)  # 512 = 32 channels x 4 x 4
        self.fc2 = nn.Linear(256, 1)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))         # (N, 16, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))         # (N, 32, 4, 4)
        x = self.drop(x.flatten(1))                        # (N, 512)
        x = self.drop(F.relu(self.fc1(x)))                 # (N, 256)
        return self.fc2(x).squeeze(1)                      # (N,) logit of "is a 3"


REFERENCE_MODELS = {
    "pytorch_example": PyTorchExampleNet,
    "wide593k": Wide593K,
    "fcnn": FullyConnected,
    "small_cnn": SmallCNN,
    "is_three": IsThreeCNN,
}


# ---------------------------------------------------------------------------
# Helpers of the reference notebooks
# ---------------------------------------------------------------------------

def get_reference_model(name: str) -> nn.Module:
    """A fresh reference model by name; raises ValueError listing the valid names."""
    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {name!r}; valid names: {', '.join(REFERENCE_MODELS)}")
    return REFERENCE_MODELS[name]()


def train_val_split(split, n_val: int, seed: int):
    """Split ``split`` into (train, validation) with a fixed random permutation.

    n_val: images held out for validation (e.g. 12,000 of 60,000); seed: the
    permutation's seed, so the same images are held out on every run and machine.
    Raises ValueError unless 0 < n_val < len(split).
    """
    from .data import MNISTSplit

    if not 0 < n_val < len(split):
        raise ValueError(f"n_val={n_val!r} is invalid; use 0 < n_val < {len(split)}")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed)).to(split.X.device)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (MNISTSplit(split.X[train_idx], split.y[train_idx]),
            MNISTSplit(split.X[val_idx], split.y[val_idx]))


def one_vs_rest(split, digit: int):
    """The same images with labels 1 where the label is ``digit``, else 0."""
    from .data import MNISTSplit

    return MNISTSplit(split.X, (split.y == digit).long())


@torch.inference_mode()
def binary_metrics(model: nn.Module, split, batch_size: int | None = None) -> dict:
    """Accuracy, precision, recall and F1 (percent) and the confusion matrix of a
    one-logit model on a split with 0/1 labels; prediction = sigmoid(logit) > 0.5.

    confusion: [[true negatives, false positives], [false negatives, true positives]].
    batch_size: None picks ``training.default_eval_batch_size`` for the split's device.
    """
    from .data import batches
    from .training import default_eval_batch_size

    batch_size = batch_size or default_eval_batch_size(split.X.device)
    was_training = model.training
    model.eval()
    predictions = torch.cat([model(X) > 0 for X, _ in batches(split, batch_size, shuffle=False)]).long().cpu()
    model.train(was_training)
    y = split.y.cpu()
    tp = int(((predictions == 1) & (y == 1)).sum())
    tn = int(((predictions == 0) & (y == 0)).sum())
    fp = int(((predictions == 1) & (y == 0)).sum())
    fn = int(((predictions == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"acc": 100.0 * (tp + tn) / len(y), "precision": 100.0 * precision, "recall": 100.0 * recall,
            "f1": 100.0 * f1, "confusion": [[tn, fp], [fn, tp]]}


def compare_with_published(report: dict, published: list[dict]) -> list[dict]:
    """Pair each published figure with the reproduced one at the same epoch.

    published: dicts with "test_acc" (percent) and "epoch" (int, or None for a figure
    measured once after training: compared with the report's final_test_acc).
    Returns rows: epoch, published, reproduced, difference (reproduced - published).
    """
    by_epoch = {row["epoch"]: row for row in report["history"]}
    rows = []
    for point in published:
        epoch = point.get("epoch")
        if epoch is None:
            reproduced = report["final_test_acc"]
        elif epoch in by_epoch and by_epoch[epoch].get("test_acc") is not None:
            reproduced = by_epoch[epoch]["test_acc"]
        else:
            reproduced = None  # not trained that long (quick mode)
        rows.append({"epoch": epoch, "published": point["test_acc"], "reproduced": reproduced,
                     "difference": None if reproduced is None else reproduced - point["test_acc"]})
    return rows


def select_on_validation(model: nn.Module, train, val, test, config, weights_path) -> dict:
    """Train with model selection on validation, then measure the test set once.

    After every epoch the validation accuracy decides whether the weights are saved to
    ``weights_path`` (a state_dict file); after training the best weights are reloaded
    (``weights_only=True``) and only then is ``test`` evaluated.
    Returns {"history", "best_val_acc", "selected_epoch", "test": evaluate(...) dict}.
    """
    from .checkpoints import load_weights
    from .training import evaluate, fit

    history = fit(model, train, None, config, val=val, best_weights=weights_path)
    best = max(history, key=lambda row: (row["val_acc"], -row["epoch"]))
    load_weights(model, weights_path)
    test_result = evaluate(model, test, config.eval_batch_size, config.loss)
    print(f"reloaded the epoch-{best['epoch']} weights (validation {best['val_acc']:.2f}%) from "
          f"{Path(weights_path).name}; test accuracy, measured once: {test_result['acc']:.2f}%")
    return {"history": history, "best_val_acc": best["val_acc"], "selected_epoch": best["epoch"],
            "test": test_result}
