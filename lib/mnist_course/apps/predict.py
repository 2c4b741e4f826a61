"""Predict your own digit: MNIST-style preprocessing of any image, and a trained model.

    mnist-course predict my_seven.png scan.jpg        # digit and top-3 probabilities
    mnist-course predict --show my_seven.png          # also print the 28x28 input
    mnist-course predict --json *.png                 # a JSON list, one object per image

    model = load_model()                              # Step 4, the committed weights
    results = predict_files(["my_seven.png"], model)  # one dict per file
    paths = example_images(test, n=6)                 # test digits drawn on paper, as stand-ins
    plot_inputs(results)                              # the 28x28 images the model saw

**Preprocessing as MNIST's creators did it.** LeCun, Cortes and Burges, "The MNIST
database of handwritten digits" (yann.lecun.com/exdb/mnist): the digits "were size
normalized to fit in a 20x20 pixel box while preserving their aspect ratio", with
anti-aliasing, and "centered in a 28x28 image by computing the center of mass of the
pixels, and translating the image so as to position this point at the center of the
28x28 field". A photo or scan of one digit goes through the same steps
(:func:`prepare`):

1. orientation from the EXIF tag (phone photos), transparency flattened onto white,
   grayscale;
2. inverted when the background (the median of the border pixels) is light: dark ink
   on paper is the common case, MNIST is light ink on black;
3. contrast stretched so the background is 0 and the strongest ink 1, with faint
   paper texture (below ``INK_FLOOR``) set to 0;
4. cropped to the ink's bounding box, scaled so its longer side is 20 pixels
   (aspect ratio kept, Lanczos anti-aliasing);
5. pasted into a black 28x28 field so that its centre of mass lies at the centre;
6. normalised with MNIST's mean 0.1307 and std 0.3081, like the training images.

**Weights.** ``weights/step4_capacity.pt`` (in this package, about 40 kB) holds the
final-epoch weights of Step 4's model trained on all 60,000 training images with
seed 1 (``scripts/train_weights.py``); ``step4_capacity.json`` beside it records how it
was trained and its final test accuracy. Loading uses ``torch.load(weights_only=True)``.
Step 5's searched winners are committed the same way, one per recorded budget
(``weights/search_<budget>.pt``, seed 1's final epoch, ``scripts/export_search_weights.py``),
and load by name: ``--weights search_5000`` / ``load_model("search_5000")``.
Another file is given with ``--weights`` / ``load_model(path)``; a ``.json`` of the same
name beside it names its model (``{"model": "step4", "model_kwargs": {...}}`` or
``{"model": "searched", "architecture": {...}}``), otherwise Step 4's architecture is assumed.

**Bad input** -- a missing file, an empty file, a file that is not an image, a blank
image, one over ``MAX_PIXELS`` -- raises :class:`ImageError` (a ValueError) naming the
file; :func:`predict_files` records it for that file and goes on with the others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from ..engine.checkpoints import WEIGHTS_DIR, load_weights
from ..engine.data import IMAGE_SIZE, MNIST_MEAN, MNIST_STD, MNISTSplit
from ..engine.models import MODELS, Architecture, SearchNet, get_model

DEFAULT_WEIGHTS = WEIGHTS_DIR / "step4_capacity.pt"

BOX = 20                 # pixels: the longer side of the digit, as in MNIST
MAX_PIXELS = 40_000_000  # larger images are refused (about a 7,700 x 5,200 photo)
MIN_CONTRAST = 0.1       # ink must differ from the background by 10% of the full range
INK_FLOOR = 0.15         # after stretching, fainter pixels are paper texture, not ink
SHADES = " .:-=+*#%@"    # --show: intensity 0 (background) ... 1 (strongest ink)


class ImageError(ValueError):
    """An image that cannot be predicted; the message names the file and why."""


def _open(path: Path) -> Image.Image:
    """Open ``path`` as a PIL image after checking what can be checked from its header."""
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty")
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image that Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP, ...)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: too large ({e})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ImageError(f"{path}: {width} x {height} pixels is {width * height / 1e6:.0f} megapixels; "
                         f"the limit is {MAX_PIXELS / 1e6:.0f}: downscale it first")
    return image


def _grayscale(image: Image.Image) -> torch.Tensor:
    """(H, W) float32 in [0, 1] from any PIL image: EXIF orientation applied, transparency
    flattened onto white (ink drawn on a transparent canvas stays visible)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    gray = image.convert("L")
    return torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).reshape(gray.height, gray.width).float() / 255


def prepare(image: Image.Image, name: str = "image") -> torch.Tensor:
    """An image of one digit as MNIST would have it (see the module docstring).

    image: any PIL image (any size, mode, dark-on-light or light-on-dark).
    Returns (1, 1, 28, 28) float32, normalised with MNIST mean 0.1307 / std 0.3081.
    Raises ImageError naming ``name`` when the image is blank (no ink differing from
    the background by ``MIN_CONTRAST``).
    """
    pixels = _grayscale(image)                                    # (H, W), 1 = white
    border = torch.cat([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.median() > 0.5:                                     # light paper, dark ink
        pixels, border = 1 - pixels, 1 - border
    background = float(border.median())
    contrast = float(pixels.max()) - background
    if contrast < MIN_CONTRAST:
        raise ImageError(f"{name}: blank image (no ink: the strongest pixel differs from the background by "
                         f"{100 * max(contrast, 0):.0f}% of the range, less than {100 * MIN_CONTRAST:.0f}%)")
    ink = ((pixels - background) / contrast).clamp(0, 1)
    ink = ((ink - INK_FLOOR) / (1 - INK_FLOOR)).clamp(0, 1)       # paper texture -> 0
    rows, cols = ink.sum(1).nonzero().flatten(), ink.sum(0).nonzero().flatten()
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]         # the ink's bounding box
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL's (width, height)
    crop = Image.frombytes("L", (width, height), (ink * 255).round().to(torch.uint8).contiguous().numpy().tobytes())
    box = crop.resize(size, Image.Resampling.LANCZOS)
    digit = torch.frombuffer(bytearray(box.tobytes()), dtype=torch.uint8).reshape(size[1], size[0]).float() / 255
    # Centre of mass of the box, then the offset that puts it at the field's centre,
    # kept inside the field. MNIST's centre is pixel index 14 (over the test set the
    # centres of mass average 13.99 down and 14.00 across, with pixels indexed 0 ... 27).
    total = digit.sum()
    com_y = float((digit.sum(1) * torch.arange(size[1])).sum() / total)
    com_x = float((digit.sum(0) * torch.arange(size[0])).sum() / total)
    centre = IMAGE_SIZE // 2
    top = min(max(round(centre - com_y), 0), IMAGE_SIZE - size[1])
    left = min(max(round(centre - com_x), 0), IMAGE_SIZE - size[0])
    field = torch.zeros(IMAGE_SIZE, IMAGE_SIZE)
    field[top:top + size[1], left:left + size[0]] = digit
    return ((field - MNIST_MEAN) / MNIST_STD).reshape(1, 1, IMAGE_SIZE, IMAGE_SIZE)


def prepare_file(path: str | os.PathLike) -> torch.Tensor:
    """:func:`prepare` for an image file. Returns (1, 1, 28, 28) float32, normalised.
    Raises ImageError naming the file if it is missing, empty, not an image, larger
    than ``MAX_PIXELS`` or blank."""
    path = Path(path)
    with _open(path) as image:
        try:
            image.load()
        except (OSError, SyntaxError) as e:  # truncated or corrupt data behind a valid header
            raise ImageError(f"{path}: the image data cannot be read ({e})") from None
        return prepare(image, str(path))


def draw_on_paper(digit: torch.Tensor, rng: random.Random) -> Image.Image:
    """An MNIST digit as a learner's photo or scan of one would show it: dark ink on
    light paper (paper 200-255, ink 0-60 of 255), 2-6 times larger (56-168 pixels), at
    a random place on a page 20-200 pixels larger than the digit.

    digit: (28, 28) intensities in [0, 1], 1 = ink (as MNIST stores it / 255).
    Returns a grayscale PIL image.
    """
    size = IMAGE_SIZE * rng.randint(2, 6)
    pixels = (digit.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()
    ink = Image.frombytes("L", (IMAGE_SIZE, IMAGE_SIZE), pixels.numpy().tobytes())
    ink = ink.resize((size, size), Image.Resampling.BILINEAR)
    paper, darkest = rng.randint(200, 255), rng.randint(0, 60)
    drawn = Image.eval(ink, lambda v: round(paper - (paper - darkest) * v / 255))  # ink 255 -> darkest
    page = Image.new("L", (size + rng.randint(20, 200), size + rng.randint(20, 200)), paper)
    page.paste(drawn, (rng.randint(0, page.width - size), rng.randint(0, page.height - size)))
    return page


def example_images(split: MNISTSplit, n: int = 6, folder: str | os.PathLike | None = None,
                   seed: int = 0) -> list[Path]:
    """The first ``n`` digits of ``split`` drawn as photos of paper (:func:`draw_on_paper`),
    saved as PNG files in ``folder`` (None: a new temporary folder); returns their paths.
    Stand-ins for a learner's own images, to try :func:`predict_files` on."""
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="mnist_course_digits_"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pixels = (split.X[:n, 0].detach().cpu() * MNIST_STD + MNIST_MEAN).clamp(0, 1)  # (n, 28, 28)
    paths = []
    for i, (digit, label) in enumerate(zip(pixels, split.y[:n].tolist(), strict=True)):
        paths.append(folder / f"example{i}_label{label}.png")
        draw_on_paper(digit, rng).save(paths[-1])
    return paths


def named_weights() -> list[str]:
    """The names of the weights committed in ``weights/`` (file stems: "step4_capacity",
    and Step 5's searched winners "search_<budget>"), each a .pt with its .json."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt") if p.with_suffix(".json").is_file())


def load_model(weights: str | os.PathLike | None = None) -> nn.Module:
    """A model in eval mode on the CPU with trained weights loaded (``weights_only=True``).

    weights: the name of committed weights (:func:`named_weights`, e.g. "search_5000"),
    a state_dict file, or None = the committed Step 4 weights. A file's architecture is
    named by a ``.json`` of the same name beside it: ``model`` is a name of
    ``models.MODELS`` (with ``model_kwargs``) or "searched" (with ``architecture``, the
    fields of ``models.Architecture``); without a .json, Step 4's model with its default
    keywords (dropout, if any, has no weights, so it does not change what loads).
    Raises FileNotFoundError if the file is missing (naming the committed names);
    ValueError naming the file if it is not a state_dict or does not fit the
    architecture, or if the .json names an unknown model.
    """
    if weights is None:
        path = DEFAULT_WEIGHTS
    elif isinstance(weights, str) and weights in named_weights():
        path = WEIGHTS_DIR / f"{weights}.pt"
    else:
        path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist; committed weights: {', '.join(named_weights())}")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"model": "step4", "model_kwargs": {}}
    if meta.get("model") == "searched":
        model = SearchNet(Architecture.from_dict(meta["architecture"]))
    elif meta.get("model") in MODELS:
        model = get_model(meta["model"], **meta.get("model_kwargs", {}))
    else:
        raise ValueError(f"{meta_path}: model={meta.get('model')!r} is unknown; valid: "
                         f"{', '.join(MODELS)}, searched")
    return load_weights(model, path).eval()


@torch.no_grad()
def predict_files(paths: list[str | os.PathLike], model: nn.Module) -> list[dict]:
    """Predict the digit in each image file.

    Returns one dict per path, in order: ``path`` (str), ``digit`` (int),
    ``probabilities`` (10 floats summing to 1, softmax of the logits) and ``input``
    ((28, 28) float32 tensor, the normalised image the model saw) -- or, for a file
    that cannot be predicted, ``path`` and ``error`` (the ImageError's message). A bad
    file never stops the others. The model runs in eval mode (BatchNorm's running
    statistics, no dropout; a model in train mode would normalise each image by its own
    statistics), and its mode is restored afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return _predict_each(paths, model, device)
    finally:
        model.train(was_training)


def _predict_each(paths: list[str | os.PathLike], model: nn.Module, device: torch.device) -> list[dict]:
    results = []
    for path in paths:
        try:
            x = prepare_file(path)
        except ImageError as e:
            results.append({"path": str(path), "error": str(e)})
            continue
        probabilities = torch.softmax(model(x.to(device)), dim=1)[0].cpu()  # (10,)
        results.append({"path": str(path), "digit": int(probabilities.argmax()),
                        "probabilities": [float(p) for p in probabilities], "input": x[0, 0]})
    return results


def top_k(probabilities: list[float], k: int = 3) -> list[tuple[int, float]]:
    """The ``k`` most probable digits as (digit, probability), most probable first."""
    return sorted(enumerate(probabilities), key=lambda dp: -dp[1])[:k]


def ascii_image(x: torch.Tensor) -> str:
    """A (28, 28) normalised image as 28 lines of text, background blank (``SHADES``)."""
    pixels = (x * MNIST_STD + MNIST_MEAN).clamp(0, 1)
    index = (pixels * (len(SHADES) - 1)).round().long()
    return "\n".join("".join(SHADES[int(i)] * 2 for i in row) for row in index)  # doubled: square-ish


def plot_inputs(results: list[dict], columns: int = 6):
    """The 28x28 images the model saw, titled with the prediction and its probability.
    Files that failed are skipped. Returns the matplotlib figure."""
    shown = [r for r in results if "error" not in r]
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, shown, strict=False):
        ax.imshow((r["input"] * MNIST_STD + MNIST_MEAN).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{Path(r['path']).name}\n{r['digit']} ({100 * r['probabilities'][r['digit']]:.0f}%)",
                     fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    """``mnist-course predict``: returns 0 if every image was predicted, 1 if any failed."""
    parser = argparse.ArgumentParser(prog="mnist-course predict",
                                     description="Predict the handwritten digit in each image "
                                                 "(MNIST-style preprocessing, Step 4's trained weights).",
                                     epilog="A file that cannot be predicted gets one error line on stderr (in --json, "
                                            "an object with \"error\"); the others are still predicted. Exit status: 0 "
                                            "all predicted, 1 some failed, 2 the weights could not be loaded.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each (PNG, JPEG, ...)")
    parser.add_argument("--weights", help="a state_dict file, or the name of committed weights (step4_capacity, "
                        "search_<budget>; default: the committed Step 4 weights)")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    parser.add_argument("--show", action="store_true", help="also print the 28x28 image the model saw")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.weights)
    except (FileNotFoundError, ValueError) as e:
        print(f"mnist-course predict: {e}", file=sys.stderr)
        return 2
    results = predict_files(args.images, model)
    for r in results:
        if "error" in r:
            print(f"error: {r['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "input"} for r in results], indent=1))
    else:
        for r in results:
            if "error" in r:
                continue
            best = ", ".join(f"{d}: {100 * p:.1f}%" for d, p in top_k(r["probabilities"]))
            print(f"{r['path']}: {r['digit']}  ({best})")
            if args.show:
                print(ascii_image(r["input"]))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
