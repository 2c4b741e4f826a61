"""fit / evaluate on real data: learning, repeatability, divergence, devices; the pieces
beside TrainConfig (schedules, Augmentation, Extras) and reading older records."""

import inspect
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_course.engine.augmentation import Augmentation, random_brightness_contrast
from mnist_course.engine.data import MNISTSplit, affine, center_crop_resize, elastic, elastic_displacement, rotate
from mnist_course.engine.models import get_model
from mnist_course.engine.optim import OneCycle, StepDecay, make_optimizer
from mnist_course.engine.training import (
    Extras,
    TrainConfig,
    changed_fields,
    config_dict,
    config_from_record,
    evaluate,
    fit,
    flat_config,
    loss_and_correct,
    resolve_device,
    set_seed,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(mnist_train, mnist_test):
    return (MNISTSplit(mnist_train.X[:256], mnist_train.y[:256]),
            MNISTSplit(mnist_test.X[:500], mnist_test.y[:500]))


def test_overfits_a_small_batch(small):
    train, _ = small
    tiny = MNISTSplit(train.X[:64], train.y[:64])
    set_seed(0)
    model = get_model("step3")
    history = fit(model, tiny, tiny, TrainConfig(num_epochs=40, batch_size=64, lr=0.05), log=None)
    assert history[-1]["train_loss"] < 0.05 * history[0]["train_loss"]
    assert evaluate(model, tiny)["acc"] == 100.0


def test_evaluate_matches_a_direct_computation(small):
    _, test = small
    set_seed(0)
    model = get_model("step1").eval()
    with torch.no_grad():
        logits = model(test.X)
    result = evaluate(model, test, batch_size=128)  # batches of 128 summed = one pass
    assert result["n"] == 500
    assert result["acc"] == pytest.approx(100.0 * (logits.argmax(1) == test.y).float().mean().item())
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, test.y).item(), rel=1e-5)
    assert not model.training


def test_history_has_one_row_per_epoch_with_percentages(small):
    train, test = small
    set_seed(0)
    history = fit(get_model("step4"), train, test,
                  TrainConfig(num_epochs=2, batch_size=100, lr=0.05, schedule="onecycle", max_rotation=7), log=None)
    assert [row["epoch"] for row in history] == [1, 2]
    for row in history:
        assert set(row) >= {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
        assert 0 <= row["train_acc"] <= 100 and 0 <= row["test_acc"] <= 100
        assert math.isfinite(row["train_loss"]) and row["seconds"] > 0


def test_same_seed_same_history_on_cpu(small):
    train, test = small

    def run():
        set_seed(3)
        history = fit(get_model("step4"), train, test,
                      TrainConfig(num_epochs=2, batch_size=64, lr=0.05, max_rotation=7, seed=3), log=None)
        return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]

    assert run() == run()


def test_divergence_stops_with_the_epoch_and_batch(small):
    train, test = small
    set_seed(0)
    with pytest.raises(FloatingPointError, match=r"epoch 1, first at batch \d+ of 4"):
        fit(get_model("step1"), train, test, TrainConfig(num_epochs=3, batch_size=64, lr=1e6), log=None)


def test_device_choice(capsys):
    assert resolve_device("cpu") == torch.device("cpu")
    chosen = resolve_device("auto", verbose=True)
    assert chosen.type in ("cuda", "mps", "cpu")
    assert f"device='auto' -> using {chosen}" in capsys.readouterr().out  # the fallback is printed
    with pytest.raises(ValueError, match="'tpu'.*'auto', 'cpu', 'cuda'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_step_schedule_divides_the_rate_every_step_size_epochs(small):
    train, test = small
    set_seed(0)
    history = fit(get_model("step3"), train, test,
                  TrainConfig(num_epochs=5, batch_size=128, lr=0.01, schedule=StepDecay(step_size=2, gamma=0.1)),
                  log=None)
    assert [row["lr"] for row in history] == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])


def test_three_phase_one_cycle_cools_down_to_lr_over_25_then_annihilates():
    # torch's OneCycleLR with three_phase=True (Smith's original 1cycle): up to lr by
    # pct_start, symmetrically back to lr / div_factor (25) by 2 * pct_start, then towards
    # lr / 25 / final_div_factor (1e4) at the end.
    model = torch.nn.Linear(2, 2)
    steps = 100
    rates = {}
    for three_phase in (False, True):
        optimizer, scheduler, every = make_optimizer(
            model, TrainConfig(num_epochs=10, lr=0.1, schedule=OneCycle(pct_start=0.3, three_phase=three_phase)),
            steps_per_epoch=steps // 10)
        assert every == "batch"
        rates[three_phase] = []
        for _ in range(steps):
            rates[three_phase].append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    assert max(rates[True]) == pytest.approx(0.1, rel=1e-3) and max(rates[False]) == pytest.approx(0.1, rel=1e-3)
    assert rates[True][60] == pytest.approx(0.1 / 25, rel=0.05)
    assert rates[False][60] > 0.03  # the two-phase schedule is still at a third of its peak there
    assert rates[True][-1] < 1e-4


def test_weight_decay_shrinks_the_weights_as_torch_defines_it():
    """One SGD step with a zero gradient (momentum 0): each weight w becomes
    w - lr * weight_decay * w, the L2 penalty of torch.optim.SGD."""
    for optimizer_name in ("sgd", "adam"):
        model = torch.nn.Linear(3, 2, bias=False)
        before = model.weight.detach().clone()
        optimizer, _, _ = make_optimizer(model, TrainConfig(lr=0.1, momentum=0.0, weight_decay=0.01,
                                                            optimizer=optimizer_name), steps_per_epoch=1)
        model.weight.grad = torch.zeros_like(model.weight)
        optimizer.step()
        if optimizer_name == "sgd":
            assert torch.allclose(model.weight, before * (1 - 0.1 * 0.01))
        else:  # Adam normalises the decayed gradient: every weight moves by about lr towards 0
            assert torch.allclose(model.weight, before - 0.1 * torch.sign(before), atol=1e-4)
    with pytest.raises(ValueError, match="weight_decay=-0.1 is invalid"):
        make_optimizer(model, TrainConfig(weight_decay=-0.1), steps_per_epoch=1)


def test_binary_loss_and_adam(small):
    train, test = small
    binary = [MNISTSplit(s.X, (s.y == 3).long()) for s in (train, test)]
    set_seed(0)

    class OneLogit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = get_model("step3")

        def forward(self, X):
            return self.net(X)[:, 0]

    history = fit(OneLogit(), binary[0], binary[1],
                  TrainConfig(num_epochs=3, batch_size=64, lr=1e-3, optimizer="adam", loss="binary"), log=None)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(0 <= row["test_acc"] <= 100 for row in history)


def test_unknown_optimizer_schedule_or_loss_are_named(small):
    train, test = small
    for field, value in (("optimizer", "rmsprop"), ("schedule", "cosine"), ("loss", "hinge")):
        with pytest.raises(ValueError, match=f"{field}='{value}' is invalid"):
            fit(get_model("step3"), train, test, TrainConfig(num_epochs=1, **{field: value}), log=None)


def test_weights_are_never_chosen_on_the_test_set(small, tmp_path):
    train, test = small
    with pytest.raises(ValueError, match="best_weights needs a validation split"):
        fit(get_model("step3"), train, test, TrainConfig(num_epochs=1), log=None, best_weights=tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()


class _Recorder(torch.nn.Module):
    """A linear model that keeps a copy of every batch it is given: the augmented images."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 10)
        self.seen = []

    def forward(self, X):
        self.seen.append(X.detach().clone())
        return self.linear(X.flatten(1))


def test_default_augmentation_draws_the_same_random_stream_as_before(small):
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])

    def run(**changes):  # one epoch of one batch; returns the images trained on and the history
        torch.manual_seed(0)  # no changes: the config's rotation; else an Augmentation with them
        model = _Recorder()
        augment = Augmentation(max_rotation=15, **changes) if changes else None
        history = fit(model, train, None, TrainConfig(num_epochs=1, batch_size=64, max_rotation=0 if changes else 15,
                                                      seed=3), log=None, augment=augment)
        return model.seen[0], [{k: v for k, v in row.items() if "seconds" not in k} for row in history]

    # Before the crop existed, fit drew from one generator seeded with config.seed: the
    # epoch's permutation, then one angle per image.
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(64, generator=generator)
    degrees = (torch.rand(64, generator=generator) * 2 - 1) * 15
    seen, history = run()
    assert torch.equal(seen, rotate(train.X[order], degrees))
    explicit = run(crop_resize_p=0.0, crop_size=22, rotation_interpolation="bilinear")
    assert torch.equal(explicit[0], seen) and explicit[1] == history

    # With the crop on: one Bernoulli draw per image after the permutation, then the
    # angles; the crop comes before the rotation.
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(64, generator=generator)
    chosen = torch.rand(64, generator=generator) < 0.5
    degrees = (torch.rand(64, generator=generator) * 2 - 1) * 15
    assert 0 < chosen.sum() < 64
    X = train.X[order]
    expected = rotate(torch.where(chosen[:, None, None, None], center_crop_resize(X, 22), X), degrees, "nearest")
    cropped, _ = run(crop_resize_p=0.5, rotation_interpolation="nearest")
    assert torch.equal(cropped, expected)
    always, always_history = run(crop_resize_p=1.0)
    assert not torch.equal(always, seen) and always_history[0]["train_loss"] != history[0]["train_loss"]

    # With shift and scale: after the permutation, the angles, the whole-pixel shifts, the
    # scales, all in one resampling (torchvision's RandomAffine, tests/test_data.py).
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(64, generator=generator)
    degrees = (torch.rand(64, generator=generator) * 2 - 1) * 15
    shift = ((torch.rand(64, 2, generator=generator) * 2 - 1) * 2).round()
    scale = 1 + (torch.rand(64, generator=generator) * 2 - 1) * 0.1
    moved, _ = run(max_shift=2, max_scale=0.1)
    assert torch.equal(moved, affine(train.X[order], degrees, shift, scale))

    # With the elastic distortion: after the rotation's draws, one smooth field per image,
    # applied after the rotation.
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(64, generator=generator)
    degrees = (torch.rand(64, generator=generator) * 2 - 1) * 15
    fields = elastic_displacement(64, 28, 28, 34.0, 4.0, generator)
    distorted, _ = run(elastic_alpha=34.0)
    assert torch.equal(distorted, elastic(rotate(train.X[order], degrees), fields))
    assert torch.equal(run(elastic_alpha=0.0, elastic_sigma=2.0)[0], seen)  # off: the stream as before

    # With brightness and contrast: last, after the rotation's draws, whether per image,
    # then alpha, then beta; off (limits 0) it draws nothing.
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(64, generator=generator)
    degrees = (torch.rand(64, generator=generator) * 2 - 1) * 15
    expected = random_brightness_contrast(rotate(train.X[order], degrees), 0.5, 0.2, 0.1, generator)
    coloured, _ = run(brightness=0.2, contrast=0.1)
    assert torch.equal(coloured, expected) and not torch.equal(coloured, seen)
    assert torch.equal(run(brightness=0.0, contrast=0.0, brightness_contrast_p=0.9)[0], seen)


def test_invalid_augmentation_settings_are_named_before_training(small):
    train, test = small
    for field, value in (("max_shift", 14), ("max_shift", 1.5)):  # the config's, as an Augmentation checks them
        with pytest.raises(ValueError, match=f"{field}={value!r} is invalid; use a whole number of pixels from 0"):
            fit(_Recorder(), train, test, TrainConfig(num_epochs=1, **{field: value}), log=None)
    for field, value, valid in (("rotation_interpolation", "bicubic", "valid: bilinear, nearest"),
                                ("crop_resize_p", 1.5, "use a probability from 0 to 1"),
                                ("crop_resize_p", -0.1, "use a probability from 0 to 1"),
                                ("crop_size", 28, "use a whole number of pixels from 1 to 27"),
                                ("max_shift", 14, "use a whole number of pixels from 0 to 13"),
                                ("max_shift", 1.5, "use a whole number of pixels from 0 to 13"),
                                ("max_scale", 1.0, "use a fraction from 0 to below 1"),
                                ("elastic_alpha", -2.0, "use a finite number of pixels >= 0"),
                                ("elastic_sigma", 8.0, "use a number of pixels above 0 and below 6.875"),
                                ("brightness", 1.0, "use a limit from 0 \\(none\\) up to, not including, 1"),
                                ("contrast", -0.1, "use a limit from 0 \\(none\\) up to, not including, 1"),
                                ("brightness_contrast_p", 2.0, "use a probability from 0 to 1")):
        model = _Recorder()
        with pytest.raises(ValueError, match=f"{field}={value!r} is invalid; {valid}"):
            fit(model, train, test, TrainConfig(num_epochs=1), log=None, augment=Augmentation(**{field: value}))
        assert model.seen == []  # nothing was trained


def test_train_mode_first_epoch_only_switches_dropout_off_from_epoch_2(small):
    """Reference 1's run.py calls model.train() once, and its test leaves the model in eval mode."""
    train, test = small
    modes = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = get_model("step3")

        def forward(self, X):
            if torch.is_grad_enabled():  # a training batch, not an evaluation
                modes.append(self.training)
            return self.net(X)

    for quirk in (False, True):
        modes.clear()
        set_seed(0)
        fit(Recorder(), train, test, TrainConfig(num_epochs=3, batch_size=len(train) // 2, lr=0.01), log=None,
            extras=Extras(train_mode_first_epoch_only=quirk))
        assert modes == ([True] * 6 if not quirk else [True, True] + [False] * 4)


class _Snapshots(torch.nn.Module):
    """Linear + BatchNorm: keeps a copy of its state (weights and running statistics) at
    every training forward pass, i.e. the state after each previous optimizer step."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 10)
        self.bn = torch.nn.BatchNorm1d(10)
        self.states = []

    def forward(self, X):
        if torch.is_grad_enabled():
            self.states.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        return self.bn(self.linear(X.flatten(1)))


def test_ema_decay_averages_weights_and_batchnorm_statistics_after_every_optimizer_step(small):
    """Reference: the EMA written out, e_1 = w_1, e_k = d e_(k-1) + (1 - d) w_k, over the
    states w_k after optimizer step k of the same run without averaging."""
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])
    val = MNISTSplit(small[1].X[:100], small[1].y[:100])
    config = TrainConfig(num_epochs=1, batch_size=16, lr=0.1, seed=2)

    torch.manual_seed(0)
    plain = _Snapshots()
    fit(plain, train, None, config, log=None)
    states = plain.states[1:] + [plain.state_dict()]  # after optimizer steps 1 ... 4
    assert len(states) == 4
    decay = 0.5
    expected = dict(states[0])
    for state in states[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * v if v.is_floating_point() else v
                    for k, v in state.items()}

    torch.manual_seed(0)
    averaged = _Snapshots()
    history = fit(averaged, train, val, config, log=None, extras=Extras(ema_decay=decay))
    for key, value in expected.items():
        if value.is_floating_point():
            assert torch.allclose(averaged.state_dict()[key], value, atol=1e-6), key
    # Training is untouched (same trained weights, same training accuracy); what is
    # evaluated, and what the model holds afterwards, is the average.
    assert torch.equal(averaged.states[-1]["linear.weight"], plain.states[-1]["linear.weight"])
    assert not torch.allclose(averaged.linear.weight, plain.linear.weight)
    assert history[0]["test_acc"] == evaluate(averaged, val)["acc"]


def test_invalid_ema_decay_is_named_before_training(small):
    train, test = small
    for value in (1.0, -0.1):
        model = _Recorder()
        with pytest.raises(ValueError, match=rf"ema_decay={value!r} is invalid; use 0 \(no weight averaging\)"):
            fit(model, train, test, TrainConfig(num_epochs=1), log=None, extras=Extras(ema_decay=value))
        assert model.seen == []


def test_label_smoothing_trains_on_the_smoothed_targets_and_evaluates_on_plain_ones(small):
    train, test = small
    # Reference: Szegedy et al. (2016), section 7: the target is (1 - eps) one-hot + eps / C
    # uniform, and the loss its cross-entropy with softmax(logits).
    logits, y, eps = torch.randn(6, 10), torch.tensor([0, 3, 9, 1, 1, 7]), 0.1
    target = (1 - eps) * F.one_hot(y, 10).float() + eps / 10
    reference = -(target * logits.log_softmax(1)).sum(1).mean()
    assert loss_and_correct(logits, y, label_smoothing=eps)[0].item() == pytest.approx(reference.item(), rel=1e-6)
    # In fit, at learning rate 0 (the same weights and BatchNorm statistics either way): the
    # trained-on loss is the smoothed one, the evaluated loss is plain cross-entropy.
    histories = []
    for smoothing in (0.0, 0.1):
        set_seed(0)
        model = get_model("step3")
        histories.append(fit(model, train, test, TrainConfig(num_epochs=1, batch_size=64, lr=0.0), log=None,
                             extras=Extras(label_smoothing=smoothing)))
        assert histories[-1][0]["test_loss"] == pytest.approx(evaluate(model, test)["loss"])
    plain, smoothed = histories
    assert smoothed[0]["train_loss"] != pytest.approx(plain[0]["train_loss"])
    assert smoothed[0]["test_loss"] == pytest.approx(plain[0]["test_loss"])


def test_invalid_label_smoothing_is_named_before_training(small):
    train, test = small
    for value, loss in ((1.0, "cross_entropy"), (-0.1, "cross_entropy"), (0.1, "binary")):
        model = _Recorder()
        with pytest.raises(ValueError, match=rf"label_smoothing={value!r} is invalid for loss='{loss}'"):
            fit(model, train, test, TrainConfig(num_epochs=1, loss=loss), log=None,
                extras=Extras(label_smoothing=value))
        assert model.seen == []


def test_a_cache_key_names_only_the_fields_changed_from_their_defaults():
    """Cached runs (ablations, the search) are keyed by these fields: a field added later
    at its default (as weight_decay was) must not change the key of an earlier run."""
    config = TrainConfig(num_epochs=15, batch_size=64, lr=0.1, schedule="onecycle", max_rotation=7.0, seed=3)
    assert changed_fields(config) == {"batch_size": 64, "lr": 0.1, "schedule": "onecycle", "max_rotation": 7.0}
    assert changed_fields(TrainConfig(weight_decay=5e-4)) == {"weight_decay": 5e-4}
    # a detailed schedule as JSON, by its name alone at its defaults
    assert changed_fields(TrainConfig(schedule=OneCycle())) == {"schedule": "onecycle"}
    assert changed_fields(TrainConfig(schedule=OneCycle(pct_start=0.15))) == {
        "schedule": {"name": "onecycle", "pct_start": 0.15, "three_phase": False}}
    assert json.loads(json.dumps(config_dict(TrainConfig(schedule=StepDecay(2)))))["schedule"] == {
        "name": "step", "step_size": 2, "gamma": 0.1}


def test_clean_last_epochs_train_on_the_images_as_they_are(small):
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])

    def seen(clean):  # the batches trained on over 3 epochs of one batch each
        torch.manual_seed(0)
        model = _Recorder()
        fit(model, train, None, TrainConfig(num_epochs=3, batch_size=64, max_rotation=15, max_shift=2, seed=3),
            log=None, extras=Extras(clean_last_epochs=clean))
        return model.seen

    def all_unchanged(X):  # every image of the batch is one of the training images, pixel for pixel
        return bool((X.flatten(1)[:, None] == train.X.flatten(1)[None]).all(-1).any(1).all())

    augmented, clean = seen(0), seen(1)
    assert len(augmented) == len(clean) == 3
    for epoch in range(2):  # the epochs before the clean one draw and train exactly as before
        assert torch.equal(clean[epoch], augmented[epoch])
        assert not all_unchanged(clean[epoch])
    assert all_unchanged(clean[2]) and not all_unchanged(augmented[2])
    assert all(all_unchanged(X) for X in seen(3))  # all epochs clean: no augmentation at all


def test_invalid_clean_last_epochs_is_named_before_training(small):
    train, test = small
    for value in (-1, 3, 1.5, True):
        model = _Recorder()
        with pytest.raises(ValueError, match=rf"clean_last_epochs={value!r} is invalid; use a whole number of "
                                             rf"epochs from 0 to num_epochs=2"):
            fit(model, train, test, TrainConfig(num_epochs=2), log=None, extras=Extras(clean_last_epochs=value))
        assert model.seen == []


def test_precise_bn_recomputes_batchnorm_statistics_over_the_training_images_as_they_are(small):
    """Reference: Wu & Johnson's PreciseBN written out: the running mean is the average of
    the batch means, the running variance the average of the batch (unbiased) variances,
    over the training images without augmentation, with the trained weights."""
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 10))
    fit(model, train, None, TrainConfig(num_epochs=2, batch_size=16, lr=0.1, max_rotation=15, max_shift=2), log=None,
        extras=Extras(precise_bn=True))
    with torch.no_grad():
        features = model[1](model[0](train.X)).view(4, 16, 4)  # (batches, images, features), in order
    bn = model[2]
    assert torch.allclose(bn.running_mean, features.mean(1).mean(0), atol=1e-6)
    assert torch.allclose(bn.running_var, features.var(1, unbiased=True).mean(0), rtol=1e-5)
    assert bn.momentum == 0.1 and model.training  # the layer and the model as they were


def test_precise_bn_changes_what_is_evaluated_not_what_is_trained(small):
    """Same seed with and without it: the same trained weights (its pass through the
    dropout of Step 4's model leaves the random stream as it was), other BatchNorm
    statistics, and the history measures the model as it is returned."""
    train, test = small
    models, histories = [], []
    for precise in (False, True):
        set_seed(0)
        models.append(get_model("step4", dropout=0.05))  # dropout draws from the global random state
        assert any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in models[-1].modules())
        histories.append(fit(models[-1], train, test, TrainConfig(num_epochs=2, batch_size=64, lr=0.05,
                                                                  max_rotation=7), log=None,
                             extras=Extras(precise_bn=precise)))
    plain, precise = models
    for (name, weight), other in zip(plain.named_parameters(), precise.parameters(), strict=True):
        assert torch.equal(weight, other), name
    assert [row["train_acc"] for row in histories[0]] == [row["train_acc"] for row in histories[1]]
    assert not torch.allclose(plain.conv1[2].running_mean, precise.conv1[2].running_mean)  # its BatchNorm
    assert histories[1][-1]["test_loss"] == pytest.approx(evaluate(precise, test)["loss"])


def test_precise_bn_with_frozen_batchnorm_is_named_before_training(small):
    train, test = small
    model = _Recorder()
    with pytest.raises(ValueError, match=r"precise_bn=True is invalid with train_mode_first_epoch_only=True"):
        fit(model, train, test, TrainConfig(num_epochs=1), log=None,
            extras=Extras(precise_bn=True, train_mode_first_epoch_only=True))
    assert model.seen == []


def test_an_augmentation_passed_in_replaces_the_configs_and_draws_from_the_runs_generator(small):
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])
    calls = []

    def flip(X, generator):  # a pipeline its owner brings: here a horizontal flip and one draw
        calls.append(torch.rand((), generator=generator).item())
        return X.flip(-1)

    def seen(seed, augment):
        torch.manual_seed(0)
        model = _Recorder()
        fit(model, train, None, TrainConfig(num_epochs=2, batch_size=64, seed=seed), log=None,
            augment=augment, extras=Extras(clean_last_epochs=1))
        return model.seen

    flipped = seen(3, flip)
    assert torch.equal(flipped[0], train.X[_first_batch_order(train, 3)].flip(-1))  # trained on its output
    assert torch.equal(flipped[1], train.X[_second_batch_order(train, 3)])  # a clean last epoch: not called
    first = list(calls)
    seen(3, flip)
    assert calls[len(first):] == first  # the run's generator, seeded by config.seed: reproducible
    with pytest.raises(ValueError, match=r"augment given with the config's augmentation \{'max_rotation': 7\.0\}"):
        fit(get_model("step1"), train, None, TrainConfig(num_epochs=1, max_rotation=7.0), log=None, augment=flip)
    with pytest.raises(ValueError, match=r"augment given with the config's augmentation \{'max_shift': 2\}"):
        fit(get_model("step1"), train, None, TrainConfig(num_epochs=1, max_shift=2), log=None,
            augment=Augmentation(max_scale=0.1))


def _first_batch_order(train, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(len(train), generator=generator)


def _second_batch_order(train, seed):  # after epoch 1's permutation and the flip's one draw
    generator = torch.Generator().manual_seed(seed)
    torch.randperm(len(train), generator=generator)
    torch.rand((), generator=generator)
    return torch.randperm(len(train), generator=generator)


def test_a_schedule_of_one_rate_per_epoch_sets_each_epochs_rate(small):
    train = MNISTSplit(small[0].X[:64], small[0].y[:64])
    rates = (0.05, 0.1, 0.0)
    history = fit(get_model("step1"), train, None, TrainConfig(num_epochs=3, batch_size=32, lr=0.05, schedule=rates),
                  log=None)
    assert [row["lr"] for row in history] == pytest.approx(list(rates))
    with pytest.raises(ValueError, match=r"schedule=\(0\.05, 0\.1\) is invalid; give one learning rate >= 0 per "
                                         r"epoch \(3\), the first equal to lr=0\.05"):
        fit(get_model("step1"), train, None, TrainConfig(num_epochs=3, lr=0.05, schedule=(0.05, 0.1)), log=None)


def test_train_config_holds_only_what_every_run_sets():
    assert [f.name for f in fields(TrainConfig)] == [
        "num_epochs", "batch_size", "lr", "momentum", "weight_decay", "optimizer", "schedule", "loss", "max_rotation",
        "max_shift", "teacher", "distill_weight", "distill_temperature", "seed", "eval_batch_size"]


def test_fit_reads_top_to_bottom_in_at_most_80_lines():
    function = __import__("ast").parse(inspect.getsource(fit)).body[0]
    body = function.end_lineno - function.body[0].end_lineno  # the lines after its docstring
    assert body <= 80, f"fit's body is {body} lines"


def test_the_named_schedules_are_their_pieces_at_the_defaults():
    def rates(schedule, epochs=6):
        optimizer, scheduler, every = make_optimizer(torch.nn.Linear(2, 2), TrainConfig(num_epochs=epochs, lr=0.1,
                                                                                        schedule=schedule), 4)
        seen = []
        for _ in range(epochs * (4 if every == "batch" else 1)):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return every, seen

    assert rates("onecycle") == rates(OneCycle()) and rates("step") == rates(StepDecay())
    assert rates(OneCycle(pct_start=0.5)) != rates("onecycle")
    assert rates(StepDecay(step_size=2, gamma=0.5))[1] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_invalid_schedule_pieces_name_their_field():
    model = torch.nn.Linear(2, 2)
    for schedule, match in ((OneCycle(pct_start=1.5), r"pct_start=1\.5 is invalid in OneCycle\(.*above 0 and below 1"),
                            (OneCycle(pct_start=0), r"pct_start=0 is invalid"),
                            (OneCycle(three_phase="yes"), r"three_phase='yes' is invalid.*True or False"),
                            (StepDecay(step_size=0), r"step_size=0 is invalid in StepDecay\(.*whole number of epochs"),
                            (StepDecay(step_size=2.5), r"step_size=2\.5 is invalid"),
                            (StepDecay(gamma=0.0), r"gamma=0\.0 is invalid in StepDecay\(.*decay factor > 0"),
                            ("cosine", r"schedule='cosine' is invalid; valid: 'constant', 'onecycle', 'step', "
                                       r"OneCycle\(pct_start, three_phase\), StepDecay\(step_size, gamma\)")):
        with pytest.raises(ValueError, match=match):
            make_optimizer(model, TrainConfig(schedule=schedule), steps_per_epoch=1)


def test_invalid_extras_name_their_field():
    for extras, match in ((Extras(label_smoothing=1.0), r"label_smoothing=1\.0 is invalid for loss='cross_entropy'"),
                          (Extras(clean_last_epochs=4), r"clean_last_epochs=4 is invalid; .* to num_epochs=3"),
                          (Extras(ema_decay=1.0), r"ema_decay=1\.0 is invalid"),
                          (Extras(precise_bn=True, train_mode_first_epoch_only=True), r"precise_bn=True is invalid")):
        with pytest.raises(ValueError, match=match):
            extras.check(num_epochs=3)
    Extras(label_smoothing=0.1, clean_last_epochs=3, ema_decay=0.999, precise_bn=True).check(num_epochs=3)


def test_config_from_record_reads_a_recorded_flat_config_into_the_pieces():
    """reports/ablations/ hold the flat 30-field configs of before the pieces: at their
    defaults the old fields are dropped; a row's non-default ones become the pieces."""
    recorded = json.loads((REPO / "reports" / "ablations" / "04_capacity-lr.json").read_text())["base"]
    flat = recorded["config"]
    assert {"pct_start", "rotation_interpolation", "ema_decay", "crop_size", "three_phase"} <= set(flat)
    step4 = TrainConfig(num_epochs=15, batch_size=64, lr=0.1, schedule="onecycle", max_rotation=7.0, max_shift=2)
    assert config_from_record(flat) == config_from_record(recorded) == (step4, None, None)
    config, augment, extras = config_from_record(
        {**flat, "label_smoothing": 0.1, "clean_last_epochs": 2, "pct_start": 0.25, "three_phase": True,
         "max_scale": 0.1, "elastic_alpha": 34.0, "step_size": 5})  # step_size: unused beside onecycle
    assert config == TrainConfig(num_epochs=15, batch_size=64, lr=0.1, schedule=OneCycle(0.25, True))
    assert augment == Augmentation(max_rotation=7.0, max_shift=2, max_scale=0.1, elastic_alpha=34.0)
    assert extras == Extras(label_smoothing=0.1, clean_last_epochs=2)
    # Reference 2's report: the step schedule, a nearest-neighbour rotation and a centre crop
    r2 = config_from_record(json.loads((REPO / "reports" / "r2_wide_593k.json").read_text()))
    assert r2[0].schedule == "step" and (r2[0].max_rotation, r2[0].max_shift) == (0.0, 0) and r2[2] is None
    assert r2[1] == Augmentation(max_rotation=15.0, rotation_interpolation="nearest", crop_resize_p=0.1)
    old_r3 = json.loads((REPO / "reports" / "r3_fcnn_vs_cnn-cnn.json").read_text())["config"]
    assert "nesterov" in old_r3 and config_from_record(old_r3)[0].optimizer == "adam"  # gone fields dropped
    # today's form, written by config_dict and piece_dict, reads back the same; and flat_config is the inverse
    for pieces in ((config, augment, extras), r2, (TrainConfig(schedule=(0.1, 0.05), num_epochs=2, lr=0.1), None,
                                                    Extras(ema_decay=0.5))):
        written = json.loads(json.dumps({"config": config_dict(pieces[0]), **{
            k: v.__dict__ for k, v in (("augment", pieces[1]), ("extras", pieces[2])) if v is not None}}))
        assert config_from_record(written) == pieces
        assert config_from_record(json.loads(json.dumps(flat_config(*pieces)))) == pieces
    with pytest.raises(ValueError, match="augment of type 'ShiftScaleRotateBrightnessContrast' is not an Augmentation"):
        config_from_record({"config": {}, "augment": {"type": "ShiftScaleRotateBrightnessContrast"}})
