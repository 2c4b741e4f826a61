"""The data path on real MNIST: shapes, normalisation, labels, batching, rotation."""

import shutil
import urllib.error

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from mnist_course import data
from mnist_course.data import (
    BACKGROUND,
    MNIST_MEAN,
    MNIST_STD,
    RAW_FILES,
    batches,
    check_raw_files,
    load_mnist,
    random_rotate,
    rotate,
    validation_split,
)
from mnist_course.paths import REPO_ROOT


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


def test_random_rotation_fills_with_background(mnist_test):
    blank = torch.full((8, 1, 28, 28), BACKGROUND)
    assert torch.allclose(random_rotate(blank, 15, torch.Generator().manual_seed(0)), blank, atol=1e-5)
    X = mnist_test.X[:8]
    assert random_rotate(X, 0) is X
    rotated = random_rotate(X, 7, torch.Generator().manual_seed(0))
    assert rotated.shape == X.shape and not torch.equal(rotated, X)


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
