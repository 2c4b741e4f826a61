"""`mnist-course predict`: MNIST-style preprocessing, the committed weights, bad input.

The preprocessing is checked against MNIST itself (a digit of the dataset, prepared
again, must come back as it was: its creators prepared it the same way), and the whole
path on MNIST test digits re-drawn as a learner's image would be: dark ink on light
paper, other sizes, off-centre, saved as PNG or JPEG.
"""

import json
import random

import pytest
import torch
from PIL import Image

from mnist_course.apps import cli
from mnist_course.apps.predict import (
    DEFAULT_WEIGHTS,
    WEIGHTS_DIR,
    ImageError,
    ascii_image,
    draw_on_paper,
    example_images,
    load_model,
    named_weights,
    predict_files,
    prepare,
    prepare_file,
    top_k,
)
from mnist_course.engine.data import MNIST_MEAN, MNIST_STD
from mnist_course.engine.models import count_params
from mnist_course.engine.paths import recorded_reports_dir
from mnist_course.engine.training import evaluate


@pytest.fixture(scope="module")
def raw_test_digits(data_dir):
    """The first 300 MNIST test digits as (N, 28, 28) uint8 (light ink on black) and labels."""
    from torchvision.datasets import MNIST

    dataset = MNIST(str(data_dir), train=False, download=False)
    return dataset.data[:300], dataset.targets[:300]


@pytest.fixture(scope="module")
def model():
    return load_model()


def _image(pixels: torch.Tensor) -> Image.Image:
    return Image.frombytes("L", (pixels.shape[1], pixels.shape[0]), pixels.contiguous().numpy().tobytes())


def _drawn(digit: torch.Tensor, rng: random.Random) -> Image.Image:
    return draw_on_paper(digit.float() / 255, rng)


def test_an_mnist_digit_prepared_again_comes_back_as_it_was(raw_test_digits):
    # Reference: MNIST's own preprocessing. Cosine similarity of prepared vs original.
    digits, _ = raw_test_digits
    similarity = []
    for digit in digits:
        x = (prepare(_image(digit))[0, 0] * MNIST_STD + MNIST_MEAN)
        original = digit.float() / 255
        similarity.append(float((x * original).sum() / (x.norm() * original.norm())))
    similarity = torch.tensor(similarity)
    assert similarity.median() > 0.98
    assert (similarity > 0.9).float().mean() > 0.9


def test_prepare_returns_a_normalised_centred_28x28_image(raw_test_digits):
    digits, _ = raw_test_digits
    x = prepare(_drawn(digits[0], random.Random(0)))
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    pixels = (x[0, 0] * MNIST_STD + MNIST_MEAN)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    assert float(pixels[:, :2].max()) < 1e-6 and float(pixels[:2].max()) < 1e-6  # background is black
    rows, cols = (pixels > 0).any(1).nonzero(), (pixels > 0).any(0).nonzero()
    assert max(int(rows[-1] - rows[0]), int(cols[-1] - cols[0])) + 1 <= 21  # fits the 20x20 box (+ anti-aliasing)
    ar = torch.arange(28).float()
    com_y = float((pixels.sum(1) * ar).sum() / pixels.sum())
    assert abs(com_y - 14) <= 1.0


def test_mnist_test_digits_drawn_dark_on_light_are_predicted(raw_test_digits, model, tmp_path):
    digits, labels = raw_test_digits
    rng = random.Random(0)
    paths = []
    for i, digit in enumerate(digits[:200]):
        path = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        _drawn(digit, rng).save(path)
        paths.append(path)
    results = predict_files(paths, model)
    correct = sum(r["digit"] == int(y) for r, y in zip(results, labels[:200], strict=True))
    assert correct / len(paths) >= 0.95, f"{correct} of {len(paths)} correct"


def test_example_images_are_files_of_the_split_s_digits(mnist_test, model, tmp_path):
    paths = example_images(mnist_test, n=4, folder=tmp_path / "examples")
    assert [p.name for p in paths] == [f"example{i}_label{int(y)}.png" for i, y in enumerate(mnist_test.y[:4])]
    with Image.open(paths[0]) as page:
        assert page.mode == "L" and page.width > 56
    assert [r["digit"] for r in predict_files(paths, model)] == mnist_test.y[:4].tolist()
    # A model straight from training is in train mode (BatchNorm would use each single
    # image's own statistics): it is predicted in eval mode, and its mode is restored.
    model.train()
    assert [r["digit"] for r in predict_files(paths, model)] == mnist_test.y[:4].tolist()
    assert model.training
    model.eval()


def test_ink_on_a_transparent_canvas_is_seen(raw_test_digits, model, tmp_path):
    digits, labels = raw_test_digits
    alpha = _image(digits[0]).resize((112, 112))
    drawing = Image.new("RGBA", (112, 112), (0, 0, 0, 0))
    drawing.putalpha(alpha)  # black ink where the digit is, transparent elsewhere
    drawing.save(tmp_path / "transparent.png")
    (result,) = predict_files([tmp_path / "transparent.png"], model)
    assert result["digit"] == int(labels[0])


def test_the_committed_weights_score_their_recorded_test_accuracy(model, mnist_test):
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert DEFAULT_WEIGHTS.stat().st_size < 100_000  # small enough to commit
    assert evaluate(model, mnist_test)["acc"] == pytest.approx(meta["final_test_acc"], abs=0.02)
    assert meta["final_test_acc"] == meta["test_acc_by_epoch"][-1]  # the final epoch's weights, not a chosen one


@pytest.mark.records
def test_the_searched_winners_load_by_name_and_score_their_recorded_test_accuracy(mnist_test):
    """Step 5's winners (scripts/export_search_weights.py): one per recorded budget, each
    with fewer parameters than its budget, scoring the final-epoch test accuracy that
    the recorded run of seed 1 ended with (reports/05_search-<budget>.json)."""
    names = [n for n in named_weights() if n.startswith("search_")]
    reports = sorted(p.stem.removeprefix("05_search-") for p in recorded_reports_dir().glob("05_search-*.json"))
    assert sorted(n.removeprefix("search_") for n in names) == reports and "step4_capacity" in named_weights()
    for name in names:
        meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        report = json.loads((recorded_reports_dir() / f"{meta['notebook']}.json").read_text())
        model = load_model(name)
        assert count_params(model) == meta["params"] == report["params"] < meta["budget"]
        assert evaluate(model, mnist_test)["acc"] == pytest.approx(meta["final_test_acc"], abs=0.02)
        assert meta["final_test_acc"] == meta["test_acc_by_epoch"][-1] == report["runs"][0]["final_test_acc"]
    with pytest.raises(FileNotFoundError, match="committed weights: .*search_"):
        load_model("search_1")


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image\n")
    Image.new("L", (64, 48), 250).save(tmp_path / "blank.png")
    Image.new("1", (8000, 6000)).save(tmp_path / "huge.png")  # 48 megapixels, tiny on disk
    Image.new("L", (200, 200), 128).save(tmp_path / "whole.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "whole.png").read_bytes()[:80])
    return {"missing.png": "no such file", "empty.png": "empty", "notes.png": "not an image",
            "blank.png": "blank", "huge.png": "megapixels", "truncated.png": "cannot be read"}


def test_each_bad_file_gets_an_error_naming_it(bad_files, tmp_path):
    for name, why in bad_files.items():
        with pytest.raises(ImageError, match=why) as error:
            prepare_file(tmp_path / name)
        assert name in str(error.value)


def test_bad_files_do_not_stop_the_others(bad_files, raw_test_digits, model, tmp_path, capsys):
    digits, labels = raw_test_digits
    _drawn(digits[1], random.Random(1)).save(tmp_path / "good.png")
    names = ["missing.png", "good.png", *[n for n in bad_files if n != "missing.png"]]
    paths = [str(tmp_path / n) for n in names]

    assert cli.main(["predict", *paths]) == 1  # some failed
    out, err = capsys.readouterr()
    assert out.strip().startswith(f"{tmp_path / 'good.png'}: {int(labels[1])}")
    assert len(err.strip().splitlines()) == len(bad_files) and all(n in err for n in bad_files)

    assert cli.main(["predict", "--json", *paths]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in listed] == paths  # one object per image, in order
    good = listed[1]
    assert good["digit"] == int(labels[1]) and len(good["probabilities"]) == 10
    assert sum(good["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert all("error" in r for i, r in enumerate(listed) if i != 1)


def test_show_prints_the_28x28_input(raw_test_digits, tmp_path, capsys):
    digits, _ = raw_test_digits
    _drawn(digits[2], random.Random(2)).save(tmp_path / "d.png")
    assert cli.main(["predict", "--show", str(tmp_path / "d.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 28 and all(len(line) == 56 for line in lines[1:])
    assert lines[1].strip() == ""  # MNIST's border rows are background


def test_ascii_image_and_top_k():
    x = torch.full((28, 28), (0 - MNIST_MEAN) / MNIST_STD)
    x[5, 5] = (1 - MNIST_MEAN) / MNIST_STD
    lines = ascii_image(x).splitlines()
    assert lines[5][10:12] == "@@" and lines[0] == " " * 56
    assert top_k([0.1, 0.5, 0.05, 0.35], 2) == [(1, 0.5), (3, 0.35)]


def test_weights_that_do_not_fit_or_do_not_exist(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(tmp_path / "nope.pt")
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt"):
        load_model(tmp_path / "other.pt")
    assert cli.main(["predict", "--weights", str(tmp_path / "other.pt"), "x.png"]) == 2
    assert "other.pt" in capsys.readouterr().err
