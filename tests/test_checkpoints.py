"""state_dict files: round trip, wrong architecture, not a checkpoint."""

import pytest
import torch

from mnist_course.engine.checkpoints import load_weights, save_weights
from mnist_course.engine.models import get_model


def test_round_trip_restores_the_weights(tmp_path):
    torch.manual_seed(0)
    model = get_model("step4")
    path = save_weights(model, tmp_path / "step4.pt")
    torch.manual_seed(1)
    other = load_weights(get_model("step4"), path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True))


def test_a_different_architecture_is_named(tmp_path):
    path = save_weights(get_model("step3"), tmp_path / "step3.pt")
    with pytest.raises(ValueError, match=r"step3\.pt does not fit Step4Capacity: .*shape mismatch conv2"):
        load_weights(get_model("step4"), path)
    with pytest.raises(ValueError, match="missing .*fc1.weight"):
        load_weights(get_model("step1"), path)


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt is not a readable state_dict checkpoint"):
        load_weights(get_model("step4"), text)
    whole = tmp_path / "list.pt"
    torch.save([1, 2, 3], whole)
    with pytest.raises(ValueError, match="list.pt is not a state_dict checkpoint: it holds list"):
        load_weights(get_model("step4"), whole)
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_weights(get_model("step4"), tmp_path / "nothing.pt")
