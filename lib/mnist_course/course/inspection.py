"""Looking at the data, the errors and inside the network: figures a learner expects.

Every function takes normalised images X: (N, 1, 28, 28) float32 (MNIST mean 0.1307 /
std 0.3081, as :func:`data.load_mnist` returns them) and returns a matplotlib figure or
plain numbers. Counting is done by torchmetrics (``MulticlassConfusionMatrix``,
``MulticlassAccuracy``), not by hand.

    fig = show_digits(train, 24)                          # a grid of training digits
    errors = misclassified(model, test)                   # indices, predictions, confidences
    matrix = confusion_matrix(model, test)                # (10, 10): rows true, columns predicted
    memoriser = nearest_neighbour(train, val)             # 1-nearest-neighbour accuracy, distances
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from ..engine.augmentation import Augmentation
from ..engine.data import BACKGROUND, CLASSES, MNIST_MEAN, MNIST_STD, MNISTSplit, batches, random_rotate
from ..engine.training import TrainConfig
from ..experiments.recipes import Recipe


def _pixels(X: torch.Tensor) -> torch.Tensor:
    """Normalised images back to intensities in [0, 1] (0 = black background), on the CPU."""
    return (X.detach().float().cpu() * MNIST_STD + MNIST_MEAN).clamp(0, 1)


def _grid(images: torch.Tensor, titles: list[str], columns: int = 8, size: float = 1.2):
    """Images (N, 28, 28) in [0, 1] as a grid of subplots with one title each."""
    rows = max(1, -(-len(images) // columns))
    lines = max((t.count("\n") + 1 for t in titles), default=1)  # title height, so rows do not overlap
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * (size + 0.22 * lines + 0.05)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def show_digits(split: MNISTSplit, n: int = 24, columns: int = 8):
    """The first ``n`` images of ``split`` with their labels. Returns the figure."""
    return _grid(_pixels(split.X[:n, 0]), [f"label {int(y)}" for y in split.y[:n]], columns)


def pixel_histograms(split: MNISTSplit, n: int = 1000):
    """Histograms of the pixel values of the first ``n`` images, as stored (0-1
    intensities) and as the network sees them after normalisation (mean 0, std 1 over
    the training set; the black background becomes -0.4242). Returns the figure."""
    X = split.X[:n].detach().float().cpu()
    fig, (before, after) = plt.subplots(1, 2, figsize=(10, 3))
    before.hist(_pixels(X).flatten().numpy(), bins=50, color="C0")
    before.set(title="pixel intensities (0 = black)", xlabel="value", ylabel="pixels", yscale="log")
    after.hist(X.flatten().numpy(), bins=50, color="C1")
    after.axvline(BACKGROUND, color="black", ls="--", lw=1, label=f"background {BACKGROUND:.4f}")
    after.set(title=f"normalised: (x - {MNIST_MEAN}) / {MNIST_STD}", xlabel="value", yscale="log")
    after.legend()
    fig.tight_layout()
    return fig


def augmentation_preview(split: MNISTSplit, index: int = 0, max_degrees: float = 7.0, n: int = 8, seed: int = 0):
    """One training digit (first panel, unchanged) and ``n - 1`` random rotations of it
    within ±max_degrees, as training draws them (:func:`data.random_rotate`); pixels
    rotated in from outside stay background. Returns the figure."""
    x = split.X[index:index + 1].repeat(n - 1, 1, 1, 1)
    rotated = random_rotate(x, max_degrees, torch.Generator(device=x.device).manual_seed(seed))
    images = torch.cat([split.X[index:index + 1], rotated])[:, 0]
    titles = ["original"] + [f"±{max_degrees:g}° draw {i}" for i in range(1, n)]
    return _grid(_pixels(images), titles, columns=n)


def compare_augmentations(split: MNISTSplit, augmentations: dict[str, Augmentation | TrainConfig | Recipe],
                          n: int = 8, seed: int = 0):
    """The first ``n`` digits of ``split`` as they are (first row), then once per entry of
    ``augmentations`` as training augments them (one row each, named by its key, from a
    generator seeded with ``seed``): an :class:`augmentation.Augmentation`; a TrainConfig,
    as ``fit`` augments with it alone (its rotation and shift); or a recipe, as it trains
    (its ``augment``, else its config's rotation and shift). Returns the figure."""
    X = split.X[:n]
    rows, titles = [X], ["as they are"] + [""] * (n - 1)
    for name, piece in augmentations.items():
        if isinstance(piece, Recipe):
            piece = piece.augment if piece.augment is not None else piece.config
        if isinstance(piece, TrainConfig):
            piece = Augmentation(max_rotation=piece.max_rotation, max_shift=piece.max_shift)
        rows.append(piece(X, torch.Generator(device=X.device).manual_seed(seed)))
        titles += [name] + [""] * (n - 1)
    return _grid(_pixels(torch.cat(rows)[:, 0]), titles, columns=n)


@torch.inference_mode()
def predict(model: nn.Module, split: MNISTSplit, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted class (N,) int64 and its softmax probability (N,) float32 for every
    image, in eval mode (the model's mode is restored); both on the CPU."""
    was_training = model.training
    model.eval()
    probabilities = torch.cat([torch.softmax(model(X), dim=1).cpu() for X, _ in batches(split, batch_size, False)])
    model.train(was_training)
    confidence, predicted = probabilities.max(dim=1)
    return predicted, confidence


def confusion_matrix(model: nn.Module, split: MNISTSplit) -> torch.Tensor:
    """(10, 10) int64 counts: row = true digit, column = predicted digit (torchmetrics)."""
    predicted, _ = predict(model, split)
    metric = MulticlassConfusionMatrix(num_classes=CLASSES)
    return metric(predicted, split.y.cpu()).long()


def per_class_accuracy(model: nn.Module, split: MNISTSplit) -> torch.Tensor:
    """(10,) accuracy in percent per true digit (recall, torchmetrics ``MulticlassAccuracy``
    with ``average=None``)."""
    predicted, _ = predict(model, split)
    return 100.0 * MulticlassAccuracy(num_classes=CLASSES, average=None)(predicted, split.y.cpu())


def nearest_neighbour(train: MNISTSplit, split: MNISTSplit, chunk: int = 500) -> dict:
    """Classify every image of ``split`` by its nearest image of ``train`` (Euclidean
    distance between the normalised pixels, ``torch.cdist``): the pure memoriser, which
    has nothing but the training digits themselves.

    Returns {"acc": accuracy in percent (torchmetrics ``MulticlassAccuracy``, micro),
    "median_distance": median distance to the nearest training image, in normalised
    pixel units, "n": images classified}. A split whose digits were written by the
    training set's writers (MNIST's validation split) finds closer and more often
    correct neighbours than one written by others (MNIST's test set: "Sets of writers of
    the training set and test set were disjoint", http://yann.lecun.com/exdb/mnist/).
    Runs on the split's device; ``chunk`` images at a time bound the memory to chunk x
    len(train) distances (500 x 55,000 float32: 110 MB). Raises ValueError for an empty
    split or a chunk < 1.
    """
    if len(split) == 0 or len(train) == 0:
        raise ValueError(f"nearest_neighbour needs images in both splits; got train {len(train)}, split {len(split)}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} is invalid; use a whole number of images >= 1 (e.g. 500)")
    reference = train.X.flatten(1)  # (M, 784)
    distances, labels = [], []
    for start in range(0, len(split), chunk):
        d = torch.cdist(split.X[start:start + chunk].flatten(1), reference)  # (chunk, M)
        nearest, index = d.min(dim=1)
        distances.append(nearest.cpu())
        labels.append(train.y[index].cpu())
    predicted = torch.cat(labels)
    acc = MulticlassAccuracy(num_classes=CLASSES, average="micro")(predicted, split.y.cpu())
    return {"acc": 100.0 * acc.item(), "median_distance": torch.cat(distances).median().item(), "n": len(split)}


def plot_confusion(matrix: torch.Tensor, title: str = "confusion matrix"):
    """The (10, 10) counts as an image; off-diagonal cells (the errors) are annotated."""
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    errors = matrix.clone()
    errors.fill_diagonal_(0)
    image = ax.imshow(errors.numpy(), cmap="Reds")
    for true in range(CLASSES):
        for pred in range(CLASSES):
            if true != pred and matrix[true, pred]:
                ax.text(pred, true, int(matrix[true, pred]), ha="center", va="center", fontsize=7)
    ax.set(xticks=range(CLASSES), yticks=range(CLASSES), xlabel="predicted digit", ylabel="true digit",
           title=f"{title} (errors only; {int(matrix.trace()):,} of {int(matrix.sum()):,} correct)")
    fig.colorbar(image, ax=ax, label="images")
    fig.tight_layout()
    return fig


def misclassified(model: nn.Module, split: MNISTSplit) -> dict:
    """The images the model gets wrong, most confident first: {"index": (K,) positions in
    ``split``, "true", "predicted": (K,) digits, "confidence": (K,) probability of the
    predicted digit}; tensors on the CPU."""
    predicted, confidence = predict(model, split)
    wrong = (predicted != split.y.cpu()).nonzero().flatten()
    order = wrong[confidence[wrong].argsort(descending=True)]
    return {"index": order, "true": split.y.cpu()[order], "predicted": predicted[order],
            "confidence": confidence[order]}


def plot_misclassified(split: MNISTSplit, errors: dict, n: int = 24, columns: int = 8):
    """A gallery of the first ``n`` of :func:`misclassified`: each digit titled with its
    true label, the prediction and the model's confidence in it. Returns the figure."""
    index = errors["index"][:n]
    titles = [f"true {int(t)}, said {int(p)}\n{100 * float(c):.0f}% sure"
              for t, p, c in zip(errors["true"][:n], errors["predicted"][:n], errors["confidence"][:n], strict=True)]
    return _grid(_pixels(split.X[index.to(split.X.device), 0]), titles, columns, size=1.4)


def plot_filters(conv: nn.Conv2d, title: str = "first-layer filters"):
    """The 3x3 (or k x k) kernels of a convolution with one input channel, one panel per
    output channel, on a shared colour scale centred on 0 (red +, blue -)."""
    weights = conv.weight.detach().cpu()[:, 0]  # (C_out, k, k)
    limit = float(weights.abs().max())
    fig, axes = plt.subplots(1, len(weights), figsize=(1.1 * len(weights), 1.4), squeeze=False)
    for i, (ax, kernel) in enumerate(zip(axes[0], weights, strict=True)):
        ax.imshow(kernel.numpy(), cmap="bwr", vmin=-limit, vmax=limit)
        ax.set_title(f"ch {i}", fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.inference_mode()
def feature_maps(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """(layer name, output (C, H, W) on the CPU) after every top-level layer of a step
    model for one image x: (1, 1, 28, 28), in eval mode (the mode is restored)."""
    was_training = model.training
    model.eval()
    maps = []
    for name, layer in model.named_children():
        x = layer(x)
        maps.append((name, x[0].detach().cpu()))
    model.train(was_training)
    return maps


def plot_feature_maps(model: nn.Module, x: torch.Tensor, layers: tuple[str, ...] = ("conv1", "conv2", "conv4"),
                      channels: int = 8):
    """The first ``channels`` maps after each layer named in ``layers`` for one image x:
    (1, 1, 28, 28); a row per layer, titled with its name and map size. Raises
    ValueError naming a layer the model does not have."""
    maps = dict(feature_maps(model, x))
    missing = [name for name in layers if name not in maps]
    if missing:
        raise ValueError(f"layers {missing} are not in the model; valid: {', '.join(maps)}")
    fig, axes = plt.subplots(len(layers), channels, figsize=(1.1 * channels, 1.3 * len(layers)), squeeze=False)
    for row, name in zip(axes, layers, strict=True):
        out = maps[name]
        for c, ax in enumerate(row):
            ax.axis("off")
            if c < len(out):
                ax.imshow(out[c].numpy(), cmap="viridis")
        row[0].set_title(f"{name} {tuple(out.shape[1:])}", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
