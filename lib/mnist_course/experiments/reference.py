"""Helpers of the reference set-ups (notebooks/reference/): the well-known MNIST
set-ups that the course compares itself with. Their architectures are in
:mod:`mnist_course.engine.reference_models`; a set-up's own augmentation pipeline is here
(:class:`ShiftScaleRotateBrightnessContrast`), passed to ``fit(augment=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryConfusionMatrix,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
)

from ..engine.checkpoints import load_weights
from ..engine.data import MNIST_MEAN, MNIST_STD, MNISTSplit, batches
from ..engine.reference_models import REFERENCE_MODELS, get_reference_model
from ..engine.reporting import compare_with_published
from ..engine.results import best_epoch
from ..engine.training import TrainConfig, default_eval_batch_size, evaluate, fit

# Re-exported for the reference notebooks, which import them from here.
__all__ = ["REFERENCE_MODELS", "get_reference_model", "compare_with_published", "train_val_split",
           "one_vs_rest", "binary_metrics", "select_on_validation", "ShiftScaleRotateBrightnessContrast",
           "shift_scale_rotate", "brightness_contrast", "WOOLLY_LR_PER_EPOCH"]

# Reference 5's learning rate per epoch (adilsammar/woolly-of-cv, assets/mnist/mnist/scheduler.py
# at commit 7ade209: np.interp over epochs 0-15 through (0, 0.05), (2, 0.1), (8, 0.01),
# (12, 0.005), (15, 0)), as its notebook printed it for epochs 1-15.
WOOLLY_LR_PER_EPOCH = (0.05, 0.075, 0.1, 0.085, 0.07, 0.055, 0.04, 0.025, 0.01, 0.00875, 0.0075, 0.00625,
                       0.005, 0.0033333333333333335, 0.0016666666666666668)


def shift_scale_rotate(pixels: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor
                       ) -> torch.Tensor:
    """Each image turned by ``angle`` degrees about its centre, scaled by ``scale`` and moved
    by ``shift`` x its size, as OpenCV's ``warpAffine(getRotationMatrix2D(centre, angle,
    scale) + translation)`` does for albumentations' ``ShiftScaleRotate`` (bilinear,
    the border mirrored about the edge pixels: BORDER_REFLECT_101), for a square image,
    about its centre ((W - 1) / 2; albumentations 0.5 turned about W / 2, half a pixel
    away, which moves a pixel by at most ~0.1 pixel at these angles and scales).

    pixels: (N, 1, H, W) float, 0-255; angle, scale: (N,); shift: (N, 2), fractions of
    the width (x) and height (y). Returns (N, 1, H, W) float, rounded to whole levels as
    OpenCV's 8-bit output is."""
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale
    # theta maps each output position (normalised coordinates) to where it reads the input:
    # the inverse of "rotate by angle (counter-clockwise on screen) and scale, then shift".
    # align_corners=True: -1 and 1 are the centres of the edge pixels, so torch's reflection
    # mirrors about them, as BORDER_REFLECT_101 does; a shift of s x W pixels is 2 s W / (W - 1).
    height, width = pixels.shape[-2:]
    tx, ty = 2 * shift[:, 0] * width / (width - 1), 2 * shift[:, 1] * height / (height - 1)
    theta = torch.stack([torch.stack([cos, -sin, -(cos * tx - sin * ty)], 1),
                         torch.stack([sin, cos, -(sin * tx + cos * ty)], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=True)
    out = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    return out.round().clamp(0, 255)


def brightness_contrast(pixels: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """albumentations' ``RandomBrightnessContrast`` on 8-bit images for given draws:
    clip(v * alpha + beta * 255, 0, 255), truncated to whole levels (its lookup table's
    ``astype(uint8)``). pixels: (N, 1, H, W) float, 0-255; alpha, beta: (N,)."""
    out = pixels * alpha.view(-1, 1, 1, 1) + 255 * beta.view(-1, 1, 1, 1)
    return out.clamp(0, 255).floor()


@dataclass(frozen=True)
class ShiftScaleRotateBrightnessContrast:
    """Reference 5's training augmentation on the device, for ``fit(augment=...)``:
    albumentations' ``ShiftScaleRotate(shift_limit=0.09, scale_limit=0.09,
    rotate_limit=7, p=0.5)`` then ``RandomBrightnessContrast(p=0.5)`` (limits 0.2) on the
    8-bit image, then the normalisation (adilsammar/woolly-of-cv,
    ``assets/mnist/mnist/transform.py`` at commit 7ade209). Each image draws whether each
    transform applies and its values, uniformly in the limits, from the run's generator.

    Called with X: (N, 1, H, W) normalised images (``data.MNIST_MEAN``, ``data.MNIST_STD``)
    and a generator; returns them augmented and normalised again."""

    shift: float = 0.09      # fraction of the size, each axis
    scale: float = 0.09      # the factor within 1 +- scale
    degrees: float = 7.0
    p_affine: float = 0.5
    brightness: float = 0.2  # beta within +-brightness, times 255
    contrast: float = 0.2    # alpha within 1 +- contrast
    p_colour: float = 0.5

    def __call__(self, X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, device = len(X), X.device

        def uniform(limit, *shape):
            return (2 * torch.rand(n, *shape, generator=generator, device=device) - 1) * limit

        pixels = ((X * MNIST_STD + MNIST_MEAN) * 255).round()  # the 8-bit image the source augments
        moved = torch.rand(n, generator=generator, device=device) < self.p_affine
        turned = shift_scale_rotate(pixels, uniform(self.degrees), 1 + uniform(self.scale), uniform(self.shift, 2))
        pixels = torch.where(moved.view(-1, 1, 1, 1), turned, pixels)
        coloured = torch.rand(n, generator=generator, device=device) < self.p_colour
        adjusted = brightness_contrast(pixels, 1 + uniform(self.contrast), uniform(self.brightness))
        pixels = torch.where(coloured.view(-1, 1, 1, 1), adjusted, pixels)
        return (pixels / 255 - MNIST_MEAN) / MNIST_STD



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
