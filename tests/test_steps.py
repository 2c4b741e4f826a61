"""The notebook helpers: the model summary must not change the run it is part of."""

import torch

from mnist_course.models import count_params, get_model
from mnist_course.steps import build_model, show_model


def test_show_model_prints_and_leaves_the_run_unchanged(capsys):
    model = build_model("step4", seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert show_model(model) == count_params(model) == 7_824
    out = capsys.readouterr().out
    assert "Total params: 7,824" in out and "conv6    (10, 6, 6)           22" in out
    assert torch.equal(rng, torch.get_rng_state())  # dropout in training draws from this stream
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # BatchNorm stats too
    assert model.training


def test_build_model_is_seeded():
    a, b = build_model("step3", seed=5), build_model("step3", seed=5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(build_model("step3", seed=6).conv1[0].weight, a.conv1[0].weight)
