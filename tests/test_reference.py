"""The reference set-ups: exact architectures, the validation split, binary metrics."""

import pytest
import torch
import torch.nn.functional as F
from torchinfo import summary

from mnist_course.engine.data import MNISTSplit
from mnist_course.engine.models import count_params
from mnist_course.engine.training import TrainConfig, evaluate
from mnist_course.experiments.reference import (
    REFERENCE_MODELS,
    ShiftScaleRotateBrightnessContrast,
    binary_metrics,
    brightness_contrast,
    get_reference_model,
    one_vs_rest,
    select_on_validation,
    shift_scale_rotate,
    train_val_split,
)

# Parameter counts from the published layer lists: weights + biases of each layer.
EXPECTED = {
    "pytorch_example": (1 * 10 * 25 + 10) + (10 * 20 * 25 + 20) + (320 * 50 + 50) + (50 * 10 + 10),  # 21,840
    "sladebot": (1 * 10 * 25 + 10) + (10 * 20 * 25 + 20) + (320 * 50 + 50) + (50 * 10 + 10),  # the same layers
    # conv 1->32, 32->64, 64->128, 128->256 (3x3 + bias); fc 4096->50, 50->10
    "wide593k": (32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256)
                + (4096 * 50 + 50) + (50 * 10 + 10),
    "fcnn": (784 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10),
    "small_cnn": (16 * 9 + 16) + (16 * 32 * 9 + 32) + (1568 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10),
    "is_three": (16 * 25 + 16) + (16 * 32 * 25 + 32) + (512 * 256 + 256) + (256 + 1),
    # three blocks of three 3x3 convs with biases, each + BatchNorm (2 per channel): 1-4-4-4 | 4-8-8-8 | 8-8-8-8;
    # a 1x1 conv 8 -> 10 with bias
    "woolly3762": (1 * 4 * 9 + 4 + 8) + 2 * (4 * 4 * 9 + 4 + 8) + (4 * 8 * 9 + 8 + 16) + 5 * (8 * 8 * 9 + 8 + 16)
                  + (8 * 10 + 10),
}


@pytest.mark.parametrize("name", list(REFERENCE_MODELS))
def test_published_architectures(name):
    model = get_reference_model(name)
    assert count_params(model) == EXPECTED[name]
    assert summary(model, input_size=(1, 1, 28, 28), verbose=0).trainable_params == EXPECTED[name]
    out = model.eval()(torch.randn(3, 1, 28, 28))
    assert out.shape == ((3,) if name == "is_three" else (3, 10))


def test_sladebot_network_is_wired_as_published():
    """sladebot/MNIST model.py at 7b2a21d: MaxPool before ReLU, dropout on the flattened
    features, and fc1 -> fc2 with no activation between: one affine map of the features."""
    model = get_reference_model("sladebot").eval()
    X = torch.randn(4, 1, 28, 28)
    features = F.relu(F.max_pool2d(model.conv2(F.relu(F.max_pool2d(model.conv1(X), 2))), 2)).flatten(1)
    weight = model.fc2.weight @ model.fc1.weight                      # (10, 320)
    bias = model.fc2.weight @ model.fc1.bias + model.fc2.bias         # (10,)
    assert torch.allclose(model(X), F.log_softmax(features @ weight.T + bias, dim=1), atol=1e-5)
    assert [type(m).__name__ for m in model.modules()].count("Dropout") == 1


def test_wide_network_is_the_published_593200():
    assert EXPECTED["wide593k"] == 593_200  # the hand count above reaches the published figure
    assert count_params(get_reference_model("wide593k")) == 593_200


def test_unknown_reference_model_lists_the_valid_names():
    with pytest.raises(ValueError, match="'resnet'.*pytorch_example, wide593k"):
        get_reference_model("resnet")


def test_validation_split_is_fixed_and_disjoint(mnist_train):
    train, val = train_val_split(mnist_train, n_val=12_000, seed=0)
    assert (len(train), len(val)) == (48_000, 12_000)
    again_train, again_val = train_val_split(mnist_train, n_val=12_000, seed=0)
    assert torch.equal(val.y, again_val.y) and torch.equal(train.X[:5], again_train.X[:5])
    # Disjoint: the pixel sums of the two parts add up to the whole.
    total = mnist_train.X.double().sum()
    assert torch.isclose(train.X.double().sum() + val.X.double().sum(), total)
    with pytest.raises(ValueError, match="n_val=0"):
        train_val_split(mnist_train, n_val=0, seed=0)


def test_floor_of_is_it_a_three(mnist_test):
    labels = one_vs_rest(mnist_test, 3).y
    assert int(labels.sum()) == 1010
    assert 100 * (1 - labels.float().mean().item()) == pytest.approx(89.90)


class FixedLogits(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, X):
        return self.logits[: len(X)]


def test_binary_metrics_against_hand_counts():
    y = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0])
    logits = torch.tensor([2.0, 0.5, -1.0, 3.0, -2.0, -2.0, -0.1, -5.0])  # tp 2, fn 1, fp 1, tn 4
    metrics = binary_metrics(FixedLogits(logits), MNISTSplit(torch.zeros(8, 1, 28, 28), y), batch_size=8)
    assert metrics["confusion"] == [[4, 1], [1, 2]]
    assert metrics["acc"] == pytest.approx(75.0)
    assert metrics["precision"] == pytest.approx(200 / 3) and metrics["recall"] == pytest.approx(200 / 3)
    assert metrics["f1"] == pytest.approx(200 / 3)
    never = binary_metrics(FixedLogits(-torch.ones(8)), MNISTSplit(torch.zeros(8, 1, 28, 28), y), batch_size=8)
    assert never["confusion"] == [[5, 0], [3, 0]] and never["acc"] == pytest.approx(62.5)
    assert never["precision"] == never["recall"] == never["f1"] == 0.0  # nothing called a 3: no division by 0


def test_select_on_validation_reloads_the_best_weights(mnist_train, mnist_test, tmp_path):
    train, val = train_val_split(MNISTSplit(mnist_train.X[:600], mnist_train.y[:600]), n_val=200, seed=0)
    test = MNISTSplit(mnist_test.X[:300], mnist_test.y[:300])
    torch.manual_seed(0)
    model = get_reference_model("fcnn")
    result = select_on_validation(model, train, val, test,
                                  TrainConfig(num_epochs=6, batch_size=50, lr=1e-2, optimizer="adam"),
                                  tmp_path / "best.pt")
    history = result["history"]
    assert all(row["test_acc"] is None for row in history)  # the test set is not looked at in training
    assert result["best_val_acc"] == max(row["val_acc"] for row in history)
    if history[-1]["val_acc"] == result["best_val_acc"]:
        pytest.skip("the last epoch was the best on validation here, so the reload cannot be told apart")
    # The model handed back is the chosen epoch's: it reproduces that epoch's validation accuracy.
    assert evaluate(model, val)["acc"] == result["best_val_acc"]
    assert evaluate(model, test)["acc"] == result["test"]["acc"]


def test_the_woolly_network_is_the_published_3762():
    """adilsammar/woolly-of-cv, torchsummary in MNIST_ALBUMENTATION_3762_99.52.ipynb: "Total params: 3,762"."""
    assert EXPECTED["woolly3762"] == 3_762
    model = get_reference_model("woolly3762")
    kinds = [type(m).__name__ for m in model.features]
    assert kinds.count("Conv2d") == 9 and kinds.count("BatchNorm2d") == 9 and kinds.count("MaxPool2d") == 2
    assert [m.p for m in model.features if isinstance(m, torch.nn.Dropout)] == [0.01, 0.01]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.bias is not None for m in convs) and [m.padding for m in convs] == [(1, 1)] * 9 + [(0, 0)]


def _digits(mnist_train, n=6):
    """The first training digits as the source's 8-bit images: (n, 1, 28, 28) floats 0-255."""
    from mnist_course.engine.data import MNIST_MEAN, MNIST_STD
    return ((mnist_train.X[:n] * MNIST_STD + MNIST_MEAN) * 255).round()


def test_shift_scale_rotate_is_opencvs_warp_affine(mnist_train):
    """Against OpenCV, the library albumentations' ShiftScaleRotate calls: the same
    matrix (getRotationMatrix2D about the image centre, plus the shift), bilinear."""
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    pixels = _digits(mnist_train)
    angle, scale = torch.tensor([7.0, -7.0, 3.0, 0.0, -5.5, 6.0]), torch.tensor([1.09, 0.91, 1.0, 1.05, 0.95, 1.0])
    shift = torch.tensor([[0.09, -0.09], [-0.05, 0.02], [0.0, 0.09], [0.03, 0.0], [0.0, 0.0], [-0.09, -0.09]])
    ours = shift_scale_rotate(pixels, angle, scale, shift)
    for i in range(len(pixels)):
        matrix = cv2.getRotationMatrix2D((13.5, 13.5), float(angle[i]), float(scale[i]))
        matrix[:, 2] += 28 * shift[i].numpy()
        theirs = cv2.warpAffine(pixels[i, 0].numpy().astype(np.uint8), matrix, (28, 28), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
        assert np.abs(ours[i, 0].numpy() - theirs).max() <= 1  # OpenCV's fixed-point interpolation: one level


def test_brightness_contrast_is_albumentations(mnist_train):
    A = pytest.importorskip("albumentations")
    pixels = _digits(mnist_train, 3)
    for alpha, beta in ((1.2, -0.2), (0.8, 0.2), (1.05, 0.1)):
        theirs = A.RandomBrightnessContrast(brightness_limit=(beta, beta), contrast_limit=(alpha - 1, alpha - 1),
                                            p=1.0)(image=pixels[0, 0].numpy().astype("uint8"))["image"]
        ours = brightness_contrast(pixels[:1], torch.tensor([alpha]), torch.tensor([beta]))
        assert torch.equal(ours[0, 0], torch.from_numpy(theirs).float())


def test_the_courses_brightness_contrast_is_reference_5s_before_its_8_bit_levels(mnist_train):
    # The course's Augmentation(brightness=, contrast=) changes float images as reference 5's
    # albumentations-tested one changes 8-bit images, but for their truncation to whole levels.
    from mnist_course.engine.augmentation import random_brightness_contrast
    from mnist_course.engine.data import MNIST_MEAN, MNIST_STD

    X = mnist_train.X[:256]
    ours = random_brightness_contrast(X, 1.0, 0.2, 0.2, torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(5)
    torch.rand(256, generator=generator)  # whether: all, at p = 1
    alpha = 1 + (2 * torch.rand(256, generator=generator) - 1) * 0.2
    beta = (2 * torch.rand(256, generator=generator) - 1) * 0.2
    pixels = ((X * MNIST_STD + MNIST_MEAN) * 255).round()
    theirs = brightness_contrast(pixels, alpha, beta) / 255  # truncated to whole levels
    assert ((ours * MNIST_STD + MNIST_MEAN) - theirs).abs().max() < 1.01 / 255
    assert 0.15 < (alpha - 1).abs().max() <= 0.2 and 0.15 < beta.abs().max() <= 0.2


def test_reference_5s_augmentation_applies_each_transform_to_about_half_the_images(mnist_train):
    X = mnist_train.X[:2000]
    augment = ShiftScaleRotateBrightnessContrast()
    out = augment(X, torch.Generator().manual_seed(1))
    changed = (out - X).abs().flatten(1).amax(1) > 1e-4
    assert 0.65 < changed.float().mean() < 0.85  # 1 - 0.5 x 0.5 of the images: one transform or both
    assert torch.equal(out, augment(X, torch.Generator().manual_seed(1)))  # the run's generator decides
    none = ShiftScaleRotateBrightnessContrast(p_affine=0.0, p_colour=0.0)(X, torch.Generator().manual_seed(1))
    assert torch.allclose(none, X, atol=1e-5)  # nothing drawn to apply: the images as they are
