"""Fixtures shared by the tests: the real MNIST (from MNIST_DATA_DIR or data/)."""

import matplotlib.pyplot as plt
import pytest

from mnist_course.engine.data import default_data_dir, load_mnist


@pytest.fixture(scope="session")
def data_dir():
    root = default_data_dir()
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"MNIST not found under {root}: set MNIST_DATA_DIR to the folder that contains MNIST/")
    return root


@pytest.fixture(scope="session")
def mnist_train(data_dir):
    return load_mnist(True, data_dir)


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    return load_mnist(False, data_dir)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened: pyplot keeps them until closed, and
    over the whole suite they pile up (matplotlib warns past 20)."""
    yield
    plt.close("all")
