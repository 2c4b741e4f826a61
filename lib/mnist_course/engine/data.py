"""Real MNIST as tensors that live on the training device.

Why not a DataLoader with per-image transforms? On MNIST the model is so small that
decoding and transforming images one at a time on the CPU costs more than the model
itself. The whole split (60,000 x 28 x 28 floats = 188 MB) fits in memory of any
device, so we normalise it once, keep it there, and form each batch by indexing.
Augmentation (a small random rotation, shift and scale, optionally a random centre crop
resized back to 28 x 28 before them and an elastic distortion after them) runs on the
whole batch on the same device.

Where the files come from (first match wins):
1. the ``root`` argument,
2. the environment variable ``MNIST_DATA_DIR``,
3. ``data/`` at the top of this repository (git-ignored), where torchvision downloads
   the set when the machine is online.
``root`` is the folder that *contains* ``MNIST/raw/`` (torchvision's layout).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.datasets import MNIST

from .paths import REPO_ROOT

# Statistics of the 60,000 training images on the [0, 1] pixel scale
# (published figures; tests/test_data.py recomputes them from the files).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# A blank (0.0) pixel after normalisation: the digit's background.
BACKGROUND = (0.0 - MNIST_MEAN) / MNIST_STD  # -0.4242

IMAGE_SIZE = 28  # MNIST images are 28 x 28 pixels, one channel
CLASSES = 10  # the digits 0-9

# File name -> (IDX magic number, number of items, md5 of the uncompressed file).
# The md5s are those of the published files after gunzip (torchvision lists the
# md5s of the .gz downloads instead); a mismatch means a damaged or different file.
RAW_FILES = {
    "train-images-idx3-ubyte": (2051, 60_000, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (2049, 60_000, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (2051, 10_000, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (2049, 10_000, "27ae3e4e09519cfbb04c329615203637"),
}

# The validation split: the first 5,000 training images, as in TensorFlow's classic
# MNIST reader (tensorflow/tensorflow, tensorflow/contrib/learn/python/learn/datasets/
# mnist.py: ``validation_size=5000``); the other 55,000 are trained on. MNIST's
# training file is already in no particular order of writer or class, so the first
# 5,000 hold every digit (tests/test_data.py checks the class counts).
VAL_IMAGES = 5_000
FOLDS = 12  # validation folds of the 60,000 training images (validation_split's ``fold``: 0-11)


def default_data_dir() -> Path:
    """The dataset root used when no argument is given.

    Returns ``$MNIST_DATA_DIR`` if set, else ``<repo>/data`` (git-ignored). When the
    package is installed outside a checkout, ``./data`` in the working directory.
    """
    env = os.environ.get("MNIST_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "data"
    return Path.cwd() / "data"


def resolve_data_dir(root: str | os.PathLike | None = None) -> Path:
    """The dataset root: ``root`` if given, else :func:`default_data_dir`."""
    return Path(root).expanduser() if root not in (None, "") else default_data_dir()


def _idx_problem(path: Path, magic: int, count: int, md5: str) -> str | None:
    """Why an IDX file is unusable, or None if its header, size and checksum are right."""
    expected_size = (16 + count * IMAGE_SIZE * IMAGE_SIZE) if magic == 2051 else (8 + count)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(8)
    found_magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if found_magic != magic:
        return f"magic number {found_magic} where an MNIST IDX file has {magic}"
    if size != expected_size:
        return f"{size} bytes where {count:,} items need {expected_size} bytes (truncated or corrupt)"
    found_md5 = hashlib.md5(path.read_bytes()).hexdigest()
    if found_md5 != md5:
        return f"md5 checksum {found_md5} where the published file has {md5} (corrupt or not MNIST)"
    return None


def check_raw_files(root: Path) -> None:
    """Raise a clear error if the four IDX files under ``root/MNIST/raw`` are unusable.

    Raises FileNotFoundError naming ``MNIST_DATA_DIR``, the folder searched and the four
    file names when any file is missing; ValueError naming the file and the problem
    when a header, file size or md5 checksum is wrong (about 0.2 s for all four).
    """
    raw = root / "MNIST" / "raw"
    missing = [name for name in RAW_FILES if not (raw / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"MNIST files not found in {raw} (missing: {', '.join(missing)}). "
            f"Expected the four uncompressed IDX files {', '.join(RAW_FILES)} in "
            f"<root>/MNIST/raw/. Set the environment variable MNIST_DATA_DIR (or pass "
            f"data_dir) to the folder that contains MNIST/, or run once with internet "
            f"access so torchvision can download them."
        )
    for name, (magic, count, md5) in RAW_FILES.items():
        problem = _idx_problem(raw / name, magic, count, md5)
        if problem:
            raise ValueError(f"MNIST file {raw / name} is unusable: {problem}. "
                             f"Replace it with a fresh copy.")


def ensure_mnist(root: str | os.PathLike | None = None) -> Path:
    """Make sure the MNIST files are under ``root`` and return the root folder.

    Downloads with torchvision when files are missing and the network is reachable.
    Raises FileNotFoundError (see :func:`check_raw_files`) when they are missing and
    cannot be downloaded, without the urllib traceback.
    """
    root = resolve_data_dir(root)
    raw = root / "MNIST" / "raw"
    if not all((raw / name).is_file() for name in RAW_FILES):
        try:
            MNIST(root=str(root), train=True, download=True)
        except Exception:  # offline: URLError, RuntimeError("Error downloading ...")
            pass
    check_raw_files(root)  # raises the clear error if the download did not happen
    return root


@dataclass
class MNISTSplit:
    """One split of MNIST held as two tensors on one device.

    X: (N, 1, 28, 28) float32, normalised with MNIST mean 0.1307 / std 0.3081.
    y: (N,) int64 class labels 0..9.
    """

    X: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def load_mnist(train: bool, root: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               limit: int | None = None) -> MNISTSplit:
    """Load the train (60,000) or test (10,000) split of real MNIST onto ``device``.

    root: folder containing ``MNIST/raw`` (see module docstring for the fallbacks).
    limit: keep only the first ``limit`` images (quick mode); None keeps all.
    Returns an :class:`MNISTSplit`. Raises FileNotFoundError / ValueError as
    :func:`ensure_mnist` does.
    """
    root = ensure_mnist(root)
    dataset = MNIST(root=str(root), train=train, download=False)
    images, labels = dataset.data, dataset.targets  # (N, 28, 28) uint8, (N,) int64
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit={limit!r} is invalid; use a positive number of images or None")
        images, labels = images[:limit], labels[:limit]
    X = images.to(device=device, dtype=torch.float32).div_(255.0)
    X = X.sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)  # (N, 1, 28, 28)
    return MNISTSplit(X=X, y=labels.to(device))


def validation_split(split: MNISTSplit, n_val: int = VAL_IMAGES, fold: int = 0) -> tuple[MNISTSplit, MNISTSplit]:
    """The course's fixed validation split of the training images: (train, validation).

    Validation = the first ``n_val`` images (5,000 of 60,000 by default), train = the
    rest (55,000), the same on every run and machine. Choices (epoch selection,
    ablations, searches) are to be made on it, never on the test set; the step
    notebooks themselves train on all 60,000 images for a fixed number of epochs and
    choose nothing. On a quick-mode slice pass a smaller ``n_val``, e.g.
    ``len(split) // 12``. ``fold`` k > 0 validates on the next blocks of images instead,
    [k x n_val, (k + 1) x n_val), training on all the others: a second opinion on a choice
    that was made on fold 0 (a search picks its winner on fold 0, so fold 0 flatters it).
    Views for fold 0; fold k > 0 copies the training images once. Raises ValueError
    unless ``n_val`` is a whole number with 0 < n_val < len(split) and ``fold`` a whole
    number from 0 to len(split) // n_val - 1.
    """
    if not (isinstance(n_val, int) and not isinstance(n_val, bool) and 0 < n_val < len(split)):
        raise ValueError(f"n_val={n_val!r} is invalid; use a whole number with 0 < n_val < {len(split)}")
    folds = len(split) // n_val
    if not (isinstance(fold, int) and not isinstance(fold, bool) and 0 <= fold < folds):
        raise ValueError(f"fold={fold!r} is invalid; use a whole number from 0 to {folds - 1} "
                         f"({len(split)} images in folds of {n_val})")
    start, stop = fold * n_val, (fold + 1) * n_val
    if fold == 0:
        return MNISTSplit(split.X[stop:], split.y[stop:]), MNISTSplit(split.X[:stop], split.y[:stop])
    return (MNISTSplit(torch.cat([split.X[:start], split.X[stop:]]), torch.cat([split.y[:start], split.y[stop:]])),
            MNISTSplit(split.X[start:stop], split.y[start:stop]))


def course_validation_split(split: MNISTSplit, quick: bool, fold: int = 0) -> tuple[MNISTSplit, MNISTSplit]:
    """(train, validation) as ablations and searches use them: :func:`validation_split`
    with its 5,000 images, or, on a quick-mode slice (``quick``), with its first twelfth
    (the same proportion as 5,000 of 60,000); ``fold`` as there."""
    return validation_split(split, len(split) // FOLDS if quick else VAL_IMAGES, fold)


def batch_indices(n: int, batch_size: int, device: str | torch.device = "cpu",
                  generator: torch.Generator | None = None):
    """Yield the indices (int64 tensors on ``device``) of one shuffled epoch of ``n``
    images in batches of ``batch_size``: one fresh permutation from ``generator`` per
    call. The last batch may be smaller."""
    order = torch.randperm(n, device=device, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def batches(split: MNISTSplit, batch_size: int, shuffle: bool,
            generator: torch.Generator | None = None):
    """Yield ``(X, y)`` batches of ``split`` by indexing, without copying the split.

    shuffle: draw a fresh permutation (from ``generator``) each call, i.e. each epoch
    (:func:`batch_indices`). The last batch may be smaller than ``batch_size``.
    """
    n = len(split)
    if shuffle:
        for idx in batch_indices(n, batch_size, split.X.device, generator):
            yield split.X[idx], split.y[idx]
    else:
        for start in range(0, n, batch_size):
            yield split.X[start:start + batch_size], split.y[start:start + batch_size]


INTERPOLATIONS = ("bilinear", "nearest")  # of rotate / random_rotate


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r} is invalid; valid: {', '.join(INTERPOLATIONS)}")


def rotate(X: torch.Tensor, degrees: torch.Tensor, interpolation: str = "bilinear") -> torch.Tensor:
    """Rotate each image of a batch counter-clockwise by its own angle.

    X: (N, C, H, W) normalised images on any device; degrees: (N,) angles on the same
    device. Returns a new tensor shaped like X. Pixels rotated in from outside the
    image get the MNIST background (a blank pixel, -0.4242 after normalisation), not
    0, which would be grey.
    interpolation: "bilinear" matches ``torchvision.transforms.functional.rotate(img,
    angle, BILINEAR, fill=BACKGROUND)``; "nearest" (each output pixel copies the input
    pixel nearest to where it comes from) matches the same call with NEAREST, the
    default of ``torchvision.transforms.RandomRotation``, and the same rotation of a PIL
    image but for pixels whose source point lies halfway between two pixels, where the
    arithmetic may pick either (about 0.1% of them at some angles; tests/test_data.py).
    Raises ValueError naming an unknown interpolation.
    """
    _check_interpolation(interpolation)
    radians = torch.deg2rad(degrees.to(X.dtype))
    cos, sin = torch.cos(radians), torch.sin(radians)
    zeros = torch.zeros_like(cos)
    # affine_grid maps each output pixel to the input point it samples from, so a
    # counter-clockwise rotation of the image samples along the clockwise-rotated grid.
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1),
                         torch.stack([sin, cos, zeros], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)  # (N, H, W, 2)
    # grid_sample pads with 0, so shift the background to 0 first and back after.
    rotated = F.grid_sample(X - BACKGROUND, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return rotated + BACKGROUND


def random_rotate(X: torch.Tensor, max_degrees: float, generator: torch.Generator | None = None,
                  interpolation: str = "bilinear") -> torch.Tensor:
    """Rotate each image of a batch by its own angle drawn uniformly from ±max_degrees
    (see :func:`rotate`, which receives ``interpolation``), as
    ``torchvision.transforms.RandomRotation((-max_degrees, max_degrees))`` does per image.
    ``max_degrees <= 0`` returns X unchanged and draws nothing from ``generator``.
    Raises ValueError naming an unknown interpolation (also when nothing is rotated)."""
    _check_interpolation(interpolation)
    if max_degrees <= 0:
        return X
    degrees = (torch.rand(X.shape[0], device=X.device, generator=generator) * 2 - 1) * max_degrees
    return rotate(X, degrees, interpolation)


def affine(X: torch.Tensor, degrees: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor,
           interpolation: str = "bilinear") -> torch.Tensor:
    """Rotate, scale and shift each image of a batch about its centre with its own values,
    in one resampling.

    X: (N, C, H, W) normalised images on any device; degrees: (N,) counter-clockwise
    angles; shift: (N, 2) pixels (x to the right, y down); scale: (N,) factors (1.1
    enlarges the digit by 10%); all on X's device. Returns a new tensor shaped like X,
    with the MNIST background where nothing is sampled (see :func:`rotate`).
    The same as ``torchvision.transforms.functional.affine(img, -angle, [dx, dy], scale,
    shear=[0, 0], interpolation, fill=BACKGROUND)`` per image (torchvision's affine
    turns clockwise), which is what ``torchvision.transforms.RandomAffine`` applies
    (tests/test_data.py).
    Raises ValueError naming an unknown interpolation.
    """
    _check_interpolation(interpolation)
    radians = torch.deg2rad(degrees.to(X.dtype))
    cos, sin = torch.cos(radians), torch.sin(radians)
    height, width = X.shape[-2:]
    # affine_grid works in coordinates from -1 to 1 across the image, so a pixel is 2 / W
    # wide. An output point q comes from the input point R^-1 (q - t) / s, with R^-1 the
    # sampling rotation of :func:`rotate` and t the shift in those coordinates.
    tx = shift[:, 0].to(X.dtype) * 2 / width
    ty = shift[:, 1].to(X.dtype) * 2 / height
    s = scale.to(X.dtype)
    theta = torch.stack([torch.stack([cos / s, -sin / s, -(cos * tx - sin * ty) / s], 1),
                         torch.stack([sin / s, cos / s, -(sin * tx + cos * ty) / s], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)  # (N, H, W, 2)
    moved = F.grid_sample(X - BACKGROUND, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return moved + BACKGROUND


def check_affine(max_shift: int, max_scale: float, image_size: int = IMAGE_SIZE) -> None:
    """Raise ValueError naming the value and the valid range when ``max_shift`` is not a
    whole number of pixels from 0 to image_size // 2 - 1 (13 for MNIST: a shift of half
    the image would move a centred digit out of it) or ``max_scale`` is not a fraction in
    [0, 1). The one check for :func:`random_affine` and ``augmentation.Augmentation.check``."""
    largest = image_size // 2 - 1
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or not 0 <= max_shift <= largest:
        raise ValueError(f"max_shift={max_shift!r} is invalid; use a whole number of pixels from 0 to {largest}")
    if isinstance(max_scale, bool) or not isinstance(max_scale, (int, float)) or not 0 <= max_scale < 1:
        raise ValueError(f"max_scale={max_scale!r} is invalid; use a fraction from 0 to below 1 (e.g. 0.1: +-10%)")


def random_affine(X: torch.Tensor, max_degrees: float, max_shift: int, max_scale: float,
                  generator: torch.Generator | None = None, interpolation: str = "bilinear") -> torch.Tensor:
    """Each image of a batch rotated by an angle uniform in ±max_degrees, shifted by a
    whole number of pixels in ±max_shift along each axis and scaled by a factor uniform
    in [1 - max_scale, 1 + max_scale], as ``torchvision.transforms.RandomAffine(
    max_degrees, translate=(max_shift / 28, max_shift / 28), scale=(1 - max_scale,
    1 + max_scale))`` does per image (it too rounds its shifts to whole pixels).

    Without shift and scale (both 0) this is :func:`random_rotate`, with the same draws,
    so runs that only rotate are unchanged; otherwise the draws from ``generator`` are N
    angles (when max_degrees > 0), then N x 2 shifts (when max_shift > 0), then N scales
    (when max_scale > 0). Raises ValueError for max_shift not a whole number from 0 to 13
    (half the image), max_scale outside [0, 1) or an unknown interpolation.
    """
    _check_interpolation(interpolation)
    check_affine(max_shift, max_scale, min(X.shape[-2:]))
    if max_shift == 0 and max_scale == 0:
        return random_rotate(X, max_degrees, generator, interpolation)
    n = X.shape[0]

    def uniform(*shape):  # uniform in [-1, 1)
        return torch.rand(*shape, device=X.device, generator=generator) * 2 - 1

    degrees = uniform(n) * max_degrees if max_degrees > 0 else torch.zeros(n, device=X.device)
    shift = (uniform(n, 2) * max_shift).round() if max_shift > 0 else torch.zeros(n, 2, device=X.device)
    scale = 1 + uniform(n) * max_scale if max_scale > 0 else torch.ones(n, device=X.device)
    return affine(X, degrees, shift, scale, interpolation)


def check_elastic(alpha: float, sigma: float, image_size: int = IMAGE_SIZE) -> None:
    """Raise ValueError naming the value and the valid range when ``alpha`` (pixels) is
    not a number >= 0 or ``sigma`` (pixels) is not a number > 0 whose blur kernel,
    8 sigma + 1 pixels wide, can be reflected at the image's border (torchvision's
    gaussian_blur pads by half the kernel, which must be less than the image: sigma <
    6.875 for 28 x 28 images). The one check for :func:`random_elastic` and
    ``augmentation.Augmentation.check``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < math.inf:
        raise ValueError(f"elastic_alpha={alpha!r} is invalid; use a finite number of pixels >= 0 (0 = no elastic "
                         f"distortion; Simard et al.: 34)")
    largest = (2 * image_size - 1) / 8  # int(8 sigma + 1) <= 2 image_size - 1: half of it < image_size
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < largest:
        raise ValueError(f"elastic_sigma={sigma!r} is invalid; use a number of pixels above 0 and below "
                         f"{largest:g} (Simard et al.: 4)")


def elastic_displacement(n: int, height: int, width: int, alpha: float, sigma: float,
                         generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Random smooth displacement fields for :func:`elastic`, one per image: for each pixel
    and each axis a number uniform in [-1, 1), the field blurred by a Gaussian of standard
    deviation ``sigma`` pixels and multiplied by ``alpha`` pixels (Simard, Steinkraus and
    Platt, "Best Practices for Convolutional Neural Networks Applied to Visual Document
    Analysis", ICDAR 2003, section 2, where alpha = 34 and sigma = 4 on MNIST).

    Returns (n, height, width, 2) float32 on ``device``: x then y displacements in
    ``F.affine_grid``'s coordinates, where the image spans 2 units. The draws from
    ``generator`` are n x 2 x height x width numbers. Equal to the displacement of
    ``torchvision.transforms.v2.ElasticTransform(alpha=2 * alpha, sigma=sigma)`` from the
    same numbers (torchvision's alpha is the field in those coordinates times the image's
    width, which is twice the field in pixels; tests/test_data.py). Raises ValueError as
    :func:`check_elastic`.
    """
    check_elastic(alpha, sigma, min(height, width))
    noise = torch.rand(n, 2, height, width, device=device, generator=generator) * 2 - 1  # (n, 2, H, W)
    # torchvision's gaussian_blur with its kernel (8 sigma + 1 taps, made odd; reflected at
    # the border), as two 1-D passes: the 2-D Gaussian is their outer product, and 2 x 33
    # taps instead of 33 x 33 make the distortion cost a fraction of a training step.
    half = int(8 * sigma + 1) // 2
    taps = torch.linspace(-half, half, 2 * half + 1, device=noise.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()                     # (2 half + 1,)
    smooth = F.pad(noise.reshape(2 * n, 1, height, width), [half, half, half, half], mode="reflect")
    smooth = F.conv2d(F.conv2d(smooth, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    smooth = smooth.reshape(n, 2, height, width)       # (n, 2, H, W), pixels / alpha
    # A pixel is 2 / width units of affine_grid's x and 2 / height of its y.
    units = torch.tensor([2 * alpha / width, 2 * alpha / height], device=smooth.device).view(1, 2, 1, 1)
    return (smooth * units).permute(0, 2, 3, 1)        # (n, H, W, 2)


def elastic(X: torch.Tensor, displacement: torch.Tensor, interpolation: str = "bilinear") -> torch.Tensor:
    """Each image of a batch resampled along its own displacement field: the output pixel
    at grid point q takes the input at q + displacement[q] (bilinear or nearest).

    X: (N, C, H, W) normalised images on any device; displacement: (N, H, W, 2) or
    (1, H, W, 2) (one field for the batch) in ``F.affine_grid``'s coordinates, as
    :func:`elastic_displacement` gives. Returns a new tensor shaped like X, with the
    MNIST background where nothing is sampled (see :func:`rotate`). The same as
    ``torchvision.transforms.v2.functional.elastic(img, displacement)`` per image
    (tests/test_data.py). Raises ValueError naming an unknown interpolation or a
    displacement of another shape.
    """
    _check_interpolation(interpolation)
    n, _, height, width = X.shape
    if displacement.shape not in ((n, height, width, 2), (1, height, width, 2)):
        raise ValueError(f"displacement of shape {tuple(displacement.shape)} is invalid for images of shape "
                         f"{tuple(X.shape)}; valid: ({n}, {height}, {width}, 2) or (1, {height}, {width}, 2)")
    identity = torch.eye(2, 3, dtype=X.dtype, device=X.device).expand(n, 2, 3)
    grid = F.affine_grid(identity, list(X.shape), align_corners=False)  # (N, H, W, 2): each pixel's own place
    grid = grid + displacement.to(X.device, X.dtype)                     # moved along its field
    moved = F.grid_sample(X - BACKGROUND, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return moved + BACKGROUND


def random_elastic(X: torch.Tensor, alpha: float, sigma: float, generator: torch.Generator | None = None,
                   interpolation: str = "bilinear") -> torch.Tensor:
    """Each image of a batch distorted by its own random field of
    :func:`elastic_displacement` (alpha and sigma in pixels), as
    ``torchvision.transforms.v2.ElasticTransform(alpha=2 * alpha, sigma=sigma)`` does
    per image. ``alpha = 0`` returns X unchanged and draws nothing from ``generator``.
    Raises ValueError as :func:`check_elastic` (also at alpha = 0) or for an unknown
    interpolation."""
    _check_interpolation(interpolation)
    check_elastic(alpha, sigma, min(X.shape[-2:]))
    if alpha == 0:
        return X
    n, _, height, width = X.shape
    return elastic(X, elastic_displacement(n, height, width, alpha, sigma, generator, X.device), interpolation)


def _check_crop(crop: int, height: int, width: int) -> None:
    largest = min(height, width) - 1  # a crop of the whole image would change nothing
    if isinstance(crop, bool) or not isinstance(crop, int) or not 1 <= crop <= largest:
        raise ValueError(f"crop={crop!r} is invalid; use a whole number of pixels from 1 to {largest}")


def center_crop_resize(X: torch.Tensor, crop: int) -> torch.Tensor:
    """The central ``crop`` x ``crop`` pixels of each image, resized back to the full size.

    X: (N, C, H, W) normalised images on any device (MNIST: H = W = 28); crop: the side
    of the kept square in pixels, 1 <= crop < min(H, W). Returns a new (N, C, H, W)
    tensor: the digit enlarged by H / crop (22 -> 28: 1.27 times), its outer border cut off.
    The same as ``torchvision.transforms.functional.resize(center_crop(img, crop), [H, W],
    BILINEAR, antialias=False)`` on tensors: the crop starts at round((H - crop) / 2)
    (Python's round, half to even, as torchvision), and the resize is bilinear with
    align_corners=False (sampling at pixel centres, as PIL's BILINEAR does when it
    enlarges; anti-aliasing only matters when shrinking). Bilinear weights sum to 1, so
    resizing the normalised images equals normalising the resized ones.
    Raises ValueError naming a crop outside the valid range.
    """
    height, width = X.shape[-2:]
    _check_crop(crop, height, width)
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    cropped = X[..., top:top + crop, left:left + crop]
    return F.interpolate(cropped, size=(height, width), mode="bilinear", align_corners=False, antialias=False)


def random_center_crop_resize(X: torch.Tensor, p: float, crop: int,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply :func:`center_crop_resize` to each image of a batch independently with
    probability ``p``, as ``torchvision.transforms.RandomApply([CenterCrop(crop)], p)``
    followed by ``Resize((H, W))`` does per image (Resize leaves uncropped images as they are).

    X: (N, C, H, W) normalised images; p: probability per image, 0 <= p <= 1; crop: see
    :func:`center_crop_resize`. One Bernoulli draw per image from ``generator`` on X's
    device (N uniform numbers, whatever p > 0 is). ``p = 0`` returns X unchanged and
    draws nothing. Raises ValueError naming a p outside [0, 1] or an invalid crop.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p={p!r} is invalid; use a probability from 0 to 1")
    _check_crop(crop, *X.shape[-2:])  # also at p = 0: a bad value is named even when unused
    if p == 0:
        return X
    chosen = torch.rand(X.shape[0], device=X.device, generator=generator) < p  # (N,) bool
    # Crop every image and select, rather than index the chosen ones: boolean indexing
    # would make a GPU wait for the host to learn how many were chosen, and resizing a
    # whole batch of 28 x 28 images costs next to nothing.
    return torch.where(chosen[:, None, None, None], center_crop_resize(X, crop), X)
