"""Figures of the data, the errors and the inside of a model, on real MNIST; counts
checked against a direct computation."""

import pytest
import torch

from mnist_course.course.inspection import (
    augmentation_preview,
    compare_augmentations,
    confusion_matrix,
    misclassified,
    nearest_neighbour,
    per_class_accuracy,
    pixel_histograms,
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_misclassified,
    predict,
    show_digits,
)
from mnist_course.engine.augmentation import Augmentation
from mnist_course.engine.data import MNISTSplit
from mnist_course.engine.models import get_model
from mnist_course.engine.training import TrainConfig, fit, set_seed
from mnist_course.experiments.recipes import RECIPES, apply_changes


@pytest.fixture(scope="module")
def trained(mnist_train, mnist_test):
    """Step 3 after one epoch on 2,000 images: right often, wrong often enough to count."""
    set_seed(0)
    model = get_model("step3")
    fit(model, MNISTSplit(mnist_train.X[:2000], mnist_train.y[:2000]), None,
        TrainConfig(num_epochs=1, batch_size=64, lr=0.05), log=None)
    return model, MNISTSplit(mnist_test.X[:1000], mnist_test.y[:1000])


def test_confusion_matrix_and_per_class_accuracy_match_a_direct_count(trained):
    model, test = trained
    predicted, confidence = predict(model, test)
    expected = torch.bincount(test.y.cpu() * 10 + predicted, minlength=100).reshape(10, 10)
    matrix = confusion_matrix(model, test)
    assert torch.equal(matrix, expected) and matrix.sum() == 1000
    accuracy = per_class_accuracy(model, test)
    assert torch.allclose(accuracy, 100.0 * matrix.diag() / matrix.sum(dim=1), atol=1e-4)
    assert ((confidence > 0.1) & (confidence <= 1.0)).all()  # the top of 10 probabilities is at least 1/10


def test_misclassified_lists_every_error_most_confident_first(trained):
    model, test = trained
    errors = misclassified(model, test)
    matrix = confusion_matrix(model, test)
    assert len(errors["index"]) == int(matrix.sum() - matrix.trace()) > 0
    assert torch.equal(errors["true"], test.y.cpu()[errors["index"]])
    assert (errors["true"] != errors["predicted"]).all()
    assert (errors["confidence"][:-1] >= errors["confidence"][1:]).all()
    fig = plot_misclassified(test, errors, n=5)
    first = fig.axes[0].get_title()
    assert first.startswith(f"true {int(errors['true'][0])}, said {int(errors['predicted'][0])}")
    assert "correct" in plot_confusion(matrix).axes[0].get_title()


def test_data_figures_show_the_labels_and_the_unrotated_digit_first(mnist_train):
    fig = show_digits(mnist_train, n=6, columns=3)
    assert [ax.get_title() for ax in fig.axes[:6]] == [f"label {int(y)}" for y in mnist_train.y[:6]]
    preview = augmentation_preview(mnist_train, index=0, n=4)
    original = preview.axes[0].get_images()[0].get_array()
    assert preview.axes[0].get_title() == "original"
    assert torch.allclose(torch.as_tensor(original.data), (mnist_train.X[0, 0].cpu() * 0.3081 + 0.1307).clamp(0, 1),
                          atol=1e-6)
    assert len(pixel_histograms(mnist_train, n=100).axes) == 2


def test_compare_augmentations_shows_each_config_as_training_draws_it(mnist_train):
    def pixels(ax):
        return torch.as_tensor(ax.get_images()[0].get_array().data)

    elastic = Augmentation(max_rotation=7.0, max_shift=2, elastic_alpha=25.0, elastic_sigma=5.0)
    configs = {"±7°, ±2 px": TrainConfig(max_rotation=7.0, max_shift=2), "+ elastic": elastic,
               "recipe + elastic": apply_changes(RECIPES["04_capacity"], {"elastic_alpha": 25.0, "elastic_sigma": 5.0})}
    fig = compare_augmentations(mnist_train, configs, n=3, seed=4)
    assert [ax.get_title() for ax in fig.axes[::3]] == ["as they are", "±7°, ±2 px", "+ elastic", "recipe + elastic"]
    assert [len(ax.get_images()) for ax in fig.axes] == [1] * 12
    X = mnist_train.X[:3]
    assert torch.allclose(pixels(fig.axes[0]), (X[0, 0].cpu() * 0.3081 + 0.1307).clamp(0, 1), atol=1e-6)
    for row, augment in enumerate([Augmentation(max_rotation=7.0, max_shift=2), elastic, elastic], start=1):
        drawn = augment(X, torch.Generator().manual_seed(4))
        for column in range(3):
            assert torch.allclose(pixels(fig.axes[3 * row + column]),
                                  (drawn[column, 0].cpu() * 0.3081 + 0.1307).clamp(0, 1), atol=1e-6)
    assert not torch.allclose(pixels(fig.axes[3]), pixels(fig.axes[6]))  # the elastic row differs


def test_inside_the_network(trained):
    model, test = trained
    assert len(plot_filters(model.conv1[0]).axes) == 8  # Step 3's conv1 has 8 channels
    fig = plot_feature_maps(model, test.X[:1], layers=("conv1", "conv4"), channels=4)
    assert fig.axes[0].get_title(loc="left") == "conv1 (26, 26)"
    with pytest.raises(ValueError, match=r"\['conv9'\].*conv1"):
        plot_feature_maps(model, test.X[:1], layers=("conv9",))


def test_nearest_neighbour_matches_a_direct_search_on_real_digits(mnist_train, mnist_test):
    train = MNISTSplit(mnist_train.X[:600], mnist_train.y[:600])
    split = MNISTSplit(mnist_test.X[:70], mnist_test.y[:70])
    result = nearest_neighbour(train, split, chunk=32)  # chunks that do not divide the split
    # the reference: every pair's distance, one image at a time
    nearest = [min(range(len(train)), key=lambda j: float(((x - train.X[j]) ** 2).sum())) for x in split.X]
    expected_acc = 100.0 * sum(int(train.y[j] == y) for j, y in zip(nearest, split.y, strict=True)) / len(split)
    distances = torch.tensor([float(((x - train.X[j]) ** 2).sum().sqrt()) for x, j in zip(split.X, nearest,
                                                                                              strict=True)])
    assert result["acc"] == pytest.approx(expected_acc) and result["n"] == 70
    assert result["median_distance"] == pytest.approx(distances.median().item(), rel=1e-4)
    assert 70 < result["acc"] < 100  # 600 training digits already classify most test digits
    # a training digit's nearest neighbour is itself: distance 0, always right
    itself = nearest_neighbour(train, MNISTSplit(train.X[:50], train.y[:50]))
    assert itself["acc"] == 100.0 and itself["median_distance"] < 1e-2
    with pytest.raises(ValueError, match="chunk=0 is invalid"):
        nearest_neighbour(train, split, chunk=0)
