"""The data path on real MNIST: shapes, normalisation, labels, batching, augmentation."""

import math
import re
import shutil
import urllib.error

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
import torchvision.transforms.v2 as T2
import torchvision.transforms.v2.functional as TF2
from torchvision.datasets import MNIST
from torchvision.transforms import InterpolationMode

from mnist_course.engine import data
from mnist_course.engine.data import (
    BACKGROUND,
    MNIST_MEAN,
    MNIST_STD,
    RAW_FILES,
    affine,
    batches,
    center_crop_resize,
    check_raw_files,
    elastic,
    elastic_displacement,
    load_mnist,
    random_affine,
    random_center_crop_resize,
    random_elastic,
    random_rotate,
    rotate,
    validation_split,
)
from mnist_course.engine.paths import REPO_ROOT


def test_shapes_dtypes_and_labels(mnist_train, mnist_test):
    assert mnist_train.X.shape == (60_000, 1, 28, 28) and mnist_train.X.dtype == torch.float32
    assert mnist_test.X.shape == (10_000, 1, 28, 28)
    assert mnist_train.y.dtype == torch.int64 and len(mnist_train.y) == 60_000
    # First labels of the published files (shared/data/README.md).
    assert mnist_train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist_test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(mnist_test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_normalisation_matches_published_statistics(mnist_train):
    # Undo the normalisation: the raw [0, 1] pixels have the published mean and std.
    raw = mnist_train.X * MNIST_STD + MNIST_MEAN
    assert raw.mean().item() == pytest.approx(0.1307, abs=5e-5)
    assert raw.std().item() == pytest.approx(0.3081, abs=5e-5)
    assert mnist_train.X.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert mnist_train.X.std().item() == pytest.approx(1.0, abs=1e-3)
    # A blank pixel becomes the background value.
    assert mnist_train.X.min().item() == pytest.approx(BACKGROUND, abs=1e-6)


def test_limit_keeps_the_first_images(data_dir, mnist_test):
    part = load_mnist(False, data_dir, limit=100)
    assert torch.equal(part.X, mnist_test.X[:100]) and torch.equal(part.y, mnist_test.y[:100])
    with pytest.raises(ValueError, match="limit=0"):
        load_mnist(False, data_dir, limit=0)


def test_batches_cover_every_image_once_and_reshuffle(mnist_test):
    g = torch.Generator().manual_seed(0)
    first = torch.cat([y for _, y in batches(mnist_test, 512, shuffle=True, generator=g)])
    second = torch.cat([y for _, y in batches(mnist_test, 512, shuffle=True, generator=g)])
    assert len(first) == 10_000
    assert torch.equal(torch.bincount(first), torch.bincount(mnist_test.y))
    assert not torch.equal(first, second)  # a new order each epoch
    ordered = [len(y) for _, y in batches(mnist_test, 512, shuffle=False)]
    assert ordered[:-1] == [512] * 19 and ordered[-1] == 10_000 - 19 * 512


@pytest.mark.parametrize("degrees", [7.0, -7.0, 30.0])
def test_rotate_matches_torchvision(mnist_test, degrees):
    X = mnist_test.X[:16]
    ours = rotate(X, torch.full((16,), degrees))
    reference = torch.stack([TF.rotate(x, degrees, interpolation=InterpolationMode.BILINEAR, fill=[BACKGROUND])
                             for x in X])
    # Same direction and fill; bilinear weights differ slightly at the image border.
    assert (ours - reference).abs().mean() < 0.01
    assert (ours - reference).abs().mean() < 0.1 * (X - reference).abs().mean()


@pytest.mark.parametrize("degrees, shift, scale", [(0.0, (2, -1), 1.0), (0.0, (0, 0), 1.1), (-7.0, (-2, 3), 0.9),
                                                    (12.0, (1, 1), 1.15)])
def test_affine_matches_torchvision(mnist_test, degrees, shift, scale):
    X = mnist_test.X[:16]
    n = len(X)
    ours = affine(X, torch.full((n,), degrees), torch.tensor([shift] * n, dtype=torch.float32),
                  torch.full((n,), scale))
    # TF.affine turns clockwise (TF.rotate counter-clockwise, like ours); RandomAffine's
    # angles are symmetric about 0, so the direction changes nothing there.
    reference = torch.stack([TF.affine(x, -degrees, list(shift), scale, [0.0, 0.0],
                                       interpolation=InterpolationMode.BILINEAR, fill=[BACKGROUND]) for x in X])
    # Same transform and fill; bilinear weights differ slightly at the image border.
    assert (ours - reference).abs().mean() < 0.01
    assert (ours - reference).abs().mean() < 0.1 * (X - reference).abs().mean()
    if degrees == 0 and scale == 1:  # a whole-pixel shift moves pixels exactly
        assert torch.allclose(ours, reference, atol=1e-5)


def test_random_affine_draws_like_random_affine_and_keeps_rotation_only_runs(mnist_test):
    X = mnist_test.X[:64]
    # without shift and scale: exactly random_rotate, from the same draws
    assert torch.equal(random_affine(X, 7, 0, 0.0, torch.Generator().manual_seed(3)),
                       random_rotate(X, 7, torch.Generator().manual_seed(3)))
    # the draws: angles, then whole-pixel shifts within +-max_shift, then scales
    g = torch.Generator().manual_seed(5)
    degrees = (torch.rand(64, generator=g) * 2 - 1) * 7
    shift = ((torch.rand(64, 2, generator=g) * 2 - 1) * 2).round()
    scale = 1 + (torch.rand(64, generator=g) * 2 - 1) * 0.1
    assert set(shift.unique().tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert torch.equal(random_affine(X, 7, 2, 0.1, torch.Generator().manual_seed(5)),
                       affine(X, degrees, shift, scale))
    for bad, match in ((dict(max_shift=1.5), "max_shift=1.5.*0 to 13"), (dict(max_shift=14), "max_shift=14"),
                       (dict(max_scale=1.0), "max_scale=1.0.*below 1"), (dict(max_scale=-0.1), "max_scale=-0.1")):
        with pytest.raises(ValueError, match=match):
            random_affine(X, 7, **{"max_shift": 0, "max_scale": 0.0, **bad})


@pytest.mark.parametrize("alpha, sigma", [(34.0, 4.0), (25.0, 5.0), (3.0, 0.5)])
def test_elastic_displacement_is_torchvisions_elastic_transform(alpha, sigma):
    # torchvision draws x's noise, then y's, from the global generator; one field of ours
    # draws the same 2 x 28 x 28 numbers in the same order.
    torch.manual_seed(7)
    reference = T2.ElasticTransform(alpha=2 * alpha, sigma=sigma).make_params([torch.zeros(1, 28, 28)])
    torch.manual_seed(7)
    ours = elastic_displacement(1, 28, 28, alpha, sigma)
    assert ours.shape == (1, 28, 28, 2)
    assert torch.allclose(ours, reference["displacement"], atol=1e-6)
    # alpha is in pixels: the field in affine_grid's units (a pixel is 2 / 28) times 14
    pixels = ours * 14
    if (alpha, sigma) == (34.0, 4.0):  # Simard et al.'s field moves a pixel by about 1.5 pixels
        assert 1.0 < pixels.std() < 2.0 and pixels.abs().max() < 6


def test_elastic_matches_torchvision_per_image(mnist_test):
    X = mnist_test.X[:8]
    fields = elastic_displacement(8, 28, 28, 34.0, 4.0, torch.Generator().manual_seed(1))  # (8, 28, 28, 2)
    ours = elastic(X, fields)
    # torchvision's elastic takes one field for a batch: apply each image's own; its fill
    # is 0, so move the background to 0 and back as ours does.
    reference = torch.cat([TF2.elastic(x[None] - BACKGROUND, fields[i:i + 1]) + BACKGROUND for i, x in enumerate(X)])
    assert torch.allclose(ours, reference, atol=1e-5)
    assert (ours - X).abs().mean() > 0.05  # the digits moved
    # a zero field changes nothing
    assert torch.allclose(elastic(X, torch.zeros(1, 28, 28, 2)), X, atol=1e-5)
    with pytest.raises(ValueError, match=r"displacement of shape \(2, 28, 28, 2\) is invalid.*\(8, 28, 28, 2\)"):
        elastic(X, fields[:2])


def test_random_elastic_draws_one_field_per_image_and_names_bad_settings(mnist_test):
    X = mnist_test.X[:16]
    g = torch.Generator().manual_seed(4)
    assert random_elastic(X, 0.0, 4.0, g) is X
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(4).get_state())  # alpha 0 draws nothing
    expected = elastic(X, elastic_displacement(16, 28, 28, 34.0, 4.0, torch.Generator().manual_seed(4)))
    assert torch.equal(random_elastic(X, 34.0, 4.0, torch.Generator().manual_seed(4)), expected)
    for alpha, sigma, match in ((-1.0, 4.0, "elastic_alpha=-1.0 is invalid; use a finite number of pixels >= 0"),
                                (math.inf, 4.0, "elastic_alpha=inf is invalid"),
                                (34.0, 0.0, "elastic_sigma=0.0 is invalid; use a number of pixels above 0 and "
                                            "below 6.875"),
                                (34.0, 7.0, "elastic_sigma=7.0 is invalid")):
        with pytest.raises(ValueError, match=match):
            random_elastic(X, alpha, sigma)
    random_elastic(X, 1.0, 6.8)  # the largest blur a 28 x 28 image can reflect still works


def test_random_rotation_fills_with_background(mnist_test):
    blank = torch.full((8, 1, 28, 28), BACKGROUND)
    assert torch.allclose(random_rotate(blank, 15, torch.Generator().manual_seed(0)), blank, atol=1e-5)
    X = mnist_test.X[:8]
    assert random_rotate(X, 0) is X
    rotated = random_rotate(X, 7, torch.Generator().manual_seed(0))
    assert rotated.shape == X.shape and not torch.equal(rotated, X)


# The ERA S5 reference set-up augments PIL uint8 images one at a time:
#   RandomApply([CenterCrop(22)], p=0.1) -> Resize((28, 28)) -> RandomRotation((-15, 15), fill=0)
#   -> ToTensor -> Normalize((0.1307,), (0.3081,)).
# The tests below compare the batched versions with those transforms, image by image.
ONE_LEVEL = 1 / 255 / MNIST_STD  # one uint8 grey level after normalisation: 0.0127
TO_TENSOR = T.Compose([T.ToTensor(), T.Normalize((MNIST_MEAN,), (MNIST_STD,))])


@pytest.fixture(scope="module")
def pil_test(data_dir):
    """The first 200 test images as the PIL uint8 images that torchvision's MNIST gives."""
    dataset = MNIST(str(data_dir), train=False)
    return [dataset[i][0] for i in range(200)]


@pytest.mark.parametrize("crop", [22, 21, 23])
def test_center_crop_resize_matches_torchvision_on_tensors(mnist_test, crop):
    # 21 and 23 leave an odd margin (7, 5 pixels): the crop starts at round(3.5) = 4 and
    # round(2.5) = 2 (half to even), as torchvision's center_crop.
    X = mnist_test.X[:64]
    ours = center_crop_resize(X, crop)
    reference = torch.stack([TF.resize(TF.center_crop(x, crop), [28, 28], interpolation=InterpolationMode.BILINEAR,
                                       antialias=False) for x in X])
    assert ours.shape == X.shape
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)  # the same operations (equal on a CPU)
    assert (ours - X).abs().mean() > 10 * ONE_LEVEL  # and the images did change


def test_center_crop_resize_matches_the_pil_pipeline(mnist_test, pil_test):
    # The ERA S5 pipeline on PIL images. PIL's BILINEAR, when enlarging, weighs the two
    # nearest source pixels by their distance from the sampled point at pixel centres,
    # as F.interpolate(align_corners=False) does, but it resizes a uint8 image in two
    # one-axis passes and rounds to a whole grey level after each: every pixel may be off
    # by up to 2 x 0.5 = 1 level (ONE_LEVEL), and on average by about a tenth of one.
    pipeline = T.Compose([T.CenterCrop(22), T.Resize((28, 28)), TO_TENSOR])
    reference = torch.stack([pipeline(image) for image in pil_test])
    X = mnist_test.X[:len(pil_test)]
    assert torch.equal(torch.stack([TO_TENSOR(image) for image in pil_test]), X)  # the same images
    difference = (center_crop_resize(X, 22) - reference).abs()
    assert difference.max() <= ONE_LEVEL + 1e-5
    assert difference.mean() < 0.25 * ONE_LEVEL


@pytest.mark.parametrize("degrees", [-15.0, -7.0, 3.0, 7.0, 11.3, 15.0])
def test_nearest_rotation_matches_torchvision(mnist_test, pil_test, degrees):
    # Nearest sampling copies the pixel whose centre is nearest to the sampled point. Where
    # that point lies (within float rounding) halfway between two pixels, the two
    # implementations, which compute it in different orders (torchvision's PIL path in
    # its own fixed-point arithmetic), may pick different neighbours: a few pixels may
    # differ, and then by a whole pixel value. Measured on these 200 images: none against
    # the tensor transform; against PIL 0.08% and 0.12% of the pixels at -7 and 7 degrees,
    # one pixel at 11.3 degrees, none at the other angles.
    X = mnist_test.X[:len(pil_test)]
    ours = rotate(X, torch.full((len(X),), degrees), interpolation="nearest")
    tensor_reference = torch.stack([TF.rotate(x, degrees, interpolation=InterpolationMode.NEAREST, fill=[BACKGROUND])
                                    for x in X])
    pil_reference = torch.stack([TO_TENSOR(TF.rotate(image, degrees, interpolation=InterpolationMode.NEAREST, fill=0))
                                 for image in pil_test])
    for reference in (tensor_reference, pil_reference):
        assert ((ours - reference).abs() > 1e-5).float().mean() < 0.01
    # Nearest sampling makes no new grey levels: every pixel is still a whole uint8 level.
    levels = (ours * MNIST_STD + MNIST_MEAN) * 255
    assert (levels - levels.round()).abs().max() < 1e-3
    # The default, bilinear, does make new ones (and stays the default).
    blended = (rotate(X, torch.full((len(X),), degrees)) * MNIST_STD + MNIST_MEAN) * 255
    assert (blended - blended.round()).abs().max() > 0.1


def test_era_s5_crop_then_nearest_rotation_matches_the_pil_pipeline(mnist_test, pil_test):
    # Both deterministic steps in the template's order, at one angle: within the PIL
    # resize's rounding (ONE_LEVEL) except for the nearest-sampling ties explained above
    # (measured: 0.16% of the pixels).
    pipeline = T.Compose([T.CenterCrop(22), T.Resize((28, 28)),
                          T.Lambda(lambda image: TF.rotate(image, 7.0, interpolation=InterpolationMode.NEAREST,
                                                           fill=0)),
                          TO_TENSOR])
    reference = torch.stack([pipeline(image) for image in pil_test])
    X = mnist_test.X[:len(pil_test)]
    ours = rotate(center_crop_resize(X, 22), torch.full((len(X),), 7.0), interpolation="nearest")
    assert ((ours - reference).abs() > ONE_LEVEL + 1e-5).float().mean() < 0.01


def test_unknown_interpolation_is_named(mnist_test):
    X = mnist_test.X[:4]
    message = re.escape("interpolation='bicubic' is invalid; valid: bilinear, nearest")
    with pytest.raises(ValueError, match=message):
        rotate(X, torch.zeros(4), interpolation="bicubic")
    with pytest.raises(ValueError, match=message):
        random_rotate(X, 0, interpolation="bicubic")  # named even when nothing is rotated


def test_random_center_crop_resize_crops_each_image_with_probability_p(mnist_test):
    X = mnist_test.X  # 10,000 images
    cropped = center_crop_resize(X, 22)
    assert (cropped != X).flatten(1).any(1).all()  # cropping changes every image

    assert torch.equal(random_center_crop_resize(X, 1.0, 22, torch.Generator().manual_seed(0)), cropped)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert random_center_crop_resize(X, 0.0, 22, generator) is X
    assert torch.equal(generator.get_state(), state)  # p = 0 draws nothing

    out = random_center_crop_resize(X, 0.1, 22, torch.Generator().manual_seed(0))
    changed = (out != X).flatten(1).any(1)
    # Binomial(10,000, 0.1): mean 1,000, standard deviation 30; allow 5 of them.
    n, p = len(X), 0.1
    assert abs(changed.sum().item() - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert torch.equal(out[changed], cropped[changed]) and torch.equal(out[~changed], X[~changed])
    assert torch.equal(random_center_crop_resize(X, 0.1, 22, torch.Generator().manual_seed(0)), out)
    assert not torch.equal(random_center_crop_resize(X, 0.1, 22, torch.Generator().manual_seed(1)), out)


def test_crop_errors_name_the_value_and_the_valid_range(mnist_test):
    X = mnist_test.X[:4]
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=re.escape(f"p={p!r} is invalid; use a probability from 0 to 1")):
            random_center_crop_resize(X, p, 22)
    for crop in (0, 28, 22.0, True):
        with pytest.raises(ValueError, match=re.escape(f"crop={crop!r} is invalid; use a whole number of pixels "
                                                       f"from 1 to 27")):
            center_crop_resize(X, crop)
        with pytest.raises(ValueError, match=re.escape(f"crop={crop!r} is invalid")):
            random_center_crop_resize(X, 0.0, crop)  # named even when nothing is cropped


def _fake_raw_dir(tmp_path, source_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(source_dir / "MNIST" / "raw" / name, raw / name)
    return raw


def test_missing_files_offline_give_one_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr("torchvision.datasets.MNIST.download", offline)
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(False, tmp_path)
    message = str(err.value)
    assert "MNIST_DATA_DIR" in message and str(tmp_path) in message
    assert all(name in message for name in RAW_FILES)
    assert err.value.__context__ is None  # no urllib traceback chained to it


def test_default_data_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert data.default_data_dir() == REPO_ROOT / "data"


def test_truncated_or_wrong_magic_file_is_named(tmp_path, data_dir):
    raw = _fake_raw_dir(tmp_path, data_dir)
    check_raw_files(tmp_path)  # the intact copy passes
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*truncated"):
        load_mnist(False, tmp_path)
    path.write_bytes(b"\x00\x00\x08\x03" + bytes(10_004))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*magic number 2051"):
        check_raw_files(tmp_path)
    # Right header and size, one flipped label byte: only the checksum catches it.
    good = (data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").read_bytes()
    path.write_bytes(good[:100] + bytes([(good[100] + 1) % 10]) + good[101:])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.*md5 checksum"):
        check_raw_files(tmp_path)


def test_validation_split_is_the_first_5000_training_images(mnist_train):
    train, val = validation_split(mnist_train)
    assert (len(train), len(val)) == (55_000, 5_000)
    assert torch.equal(val.y, mnist_train.y[:5_000]) and torch.equal(train.X[0], mnist_train.X[5_000])
    assert torch.equal(val.y[:10], torch.tensor([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]))  # MNIST's first labels
    counts = torch.bincount(val.y, minlength=10)
    assert counts.min() >= 400, counts  # every digit is there (10% each would be 500)
    again_train, again_val = validation_split(mnist_train)
    assert again_val.X.data_ptr() == val.X.data_ptr()  # views of the split, not copies
    for bad in (0, 60_000, 2.5):
        with pytest.raises(ValueError, match=f"n_val={bad!r} is invalid"):
            validation_split(mnist_train, bad)


def test_fold_1_validates_on_the_next_5000_images_and_trains_on_all_the_others(mnist_train):
    train, val = validation_split(mnist_train, fold=1)
    assert (len(train), len(val)) == (55_000, 5_000)
    assert torch.equal(val.X, mnist_train.X[5_000:10_000]) and torch.equal(val.y, mnist_train.y[5_000:10_000])
    # the training images are the first 5,000 and the last 50,000, in order: every image once
    assert torch.equal(train.y, torch.cat([mnist_train.y[:5_000], mnist_train.y[10_000:]]))
    assert torch.equal(train.X[4_999], mnist_train.X[4_999]) and torch.equal(train.X[5_000], mnist_train.X[10_000])
    for bad in (-1, 12, 1.0, True):
        with pytest.raises(ValueError, match=rf"fold={bad!r} is invalid; use a whole number from 0 to 11"):
            validation_split(mnist_train, fold=bad)
