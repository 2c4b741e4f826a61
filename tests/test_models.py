"""Each model's parameter count, output shape and receptive-field table."""

import pytest
import torch
from torchinfo import summary

from mnist_course.engine.models import MODELS, conv_bn, count_params, format_layer_table, get_model, layer_table

# Parameter counts by hand, layer by layer (conv: in x out x 3 x 3 (+ out bias);
# BatchNorm: 2 x channels), checked against torchinfo below.
EXPECTED_PARAMS = {
    # conv 80 + 1,168 + 4,640; fc 800x200+200 = 160,200; 200x10+10 = 2,010
    "step1": 80 + 1_168 + 4_640 + 160_200 + 2_010,
    # convs with bias: 80 + 1,168 + 4,640 + (32x8+8) + 1,168 + 4,640 + 4,624; head 16x10+10
    "step2": 80 + 1_168 + 4_640 + 264 + 1_168 + 4_640 + 4_624 + 170,
    # no conv bias; BN 2 x C: (72+16) + (864+24) + (1,728+32) + 128 + (864+24) + (1,728+32) + 1,440
    "step3": 88 + 888 + 1_760 + 128 + 888 + 1_760 + 1_440,
    # (72+16) + (1,152+32) + 128 + (864+24) + (1,728+32) + (2,304+32) + 1,440
    "step4": 88 + 1_184 + 128 + 888 + 1_760 + 2_336 + 1_440,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_param_count_matches_hand_count_and_torchinfo(name):
    model = get_model(name)
    assert count_params(model) == EXPECTED_PARAMS[name]
    assert summary(model, input_size=(1, 1, 28, 28), verbose=0).trainable_params == EXPECTED_PARAMS[name]


def test_step4_meets_the_parameter_budget():
    assert count_params(get_model("step4")) < 8_000


@pytest.mark.parametrize("name", list(MODELS))
def test_output_is_logits_for_each_image(name):
    model = get_model(name).eval()
    logits = model(torch.randn(5, 1, 28, 28))
    assert logits.shape == (5, 10) and logits.dtype == torch.float32


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_table_shapes_match_a_real_forward(name):
    model = get_model(name)
    rows = layer_table(model)
    shapes = {}
    hooks = [layer.register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
             for n, layer in model.named_children()]
    model.eval()(torch.zeros(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    assert {r["name"]: r["shape"] for r in rows} == shapes
    assert sum(r["params"] for r in rows) == count_params(model)


def test_receptive_fields_follow_the_rule():
    rf = {r["name"]: r["rf"] for r in layer_table(get_model("step4"))}
    # 3x3 convs add 2 before the pool; the pool (k=2, s=2) adds 1 and doubles the jump.
    assert [rf[n] for n in ("conv1", "conv2", "pool1", "trans1", "conv3", "conv4", "conv5", "conv6")] == \
        [3, 5, 6, 6, 10, 14, 18, 22]
    rf3 = {r["name"]: r["rf"] for r in layer_table(get_model("step3"))}
    assert rf3["conv3"] == 7 and rf3["pool1"] == 8 and rf3["conv6"] == 20


def test_the_table_explains_a_receptive_field_wider_than_the_image():
    # Step 4's GAP sees 32 pixels of a 28-pixel image: the table says why; Step 2's stops at 28.
    text4 = format_layer_table(layer_table(get_model("step4")))
    assert text4.splitlines()[-1].startswith("RF > 28 (gap): the window is wider than the 28x28 image")
    text2 = format_layer_table(layer_table(get_model("step2")))
    assert max(r["rf"] for r in layer_table(get_model("step2"))) == 28 and "RF >" not in text2


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'step9'.*step1, step2, step3, step4"):
        get_model("step9")


# Ablation variants: each changes one thing; counts by hand as above.
VARIANT_PARAMS = {
    ("step4", "pool_after_rf", 7): EXPECTED_PARAMS["step4"],           # the pool moves, nothing else
    ("step4", "extra_block", False): EXPECTED_PARAMS["step4"] - 2_336,  # conv5: 16x16x9 + 2x16
    ("step4", "dropout", 0.0): EXPECTED_PARAMS["step4"],               # dropout has no weights
    ("step4", "bn_momentum", 0.01): EXPECTED_PARAMS["step4"],          # a running-average weight, not a parameter
    # no trans1 (-128); conv3 16 -> 10: 1,440 + 20 instead of 888; conv4 10 -> 16: 1,440 + 32 instead of 1,760
    ("step4", "transition", False): EXPECTED_PARAMS["step4"] - 128 - 888 + 1_460 - 1_760 + 1_472,
    # GAP -> 1x1 head: conv6 (16x10x9 = 1,440) replaced by a 16x10 layer (160)
    ("step4", "head", "gap"): EXPECTED_PARAMS["step4"] - 1_440 + 160,
    # a 4th block: conv3 8 -> 10 (720 + 20), conv4 10 -> 14 (1,260 + 28), conv5 14 -> 16 (2,016 + 32),
    # conv6 16 -> 16 with BatchNorm (2,304 + 32), then GAP -> 16x10 (160)
    ("step4", "head", "block"): 88 + 1_184 + 128 + 740 + 1_288 + 2_048 + 2_336 + 160,
    # no BatchNorm (-2C) but conv biases (+C) on the five 3x3 convs with BN: -(8+12+16+12+16)
    ("step3", "batchnorm", False): EXPECTED_PARAMS["step3"] - 64,
    ("step2", "head", "fc"): EXPECTED_PARAMS["step2"] - 170 + 16 * 5 * 5 * 10 + 10,
    # no trans1 (32x8 + 8); conv4 reads 32 channels: 32x16x9 + 16 instead of 8x16x9 + 16
    ("step2", "transition", False): EXPECTED_PARAMS["step2"] - 264 - 1_168 + 4_624,
}


@pytest.mark.parametrize(("name", "key", "value"), list(VARIANT_PARAMS))
def test_ablation_variants_change_one_thing(name, key, value):
    model = get_model(name, **{key: value})
    assert count_params(model) == VARIANT_PARAMS[(name, key, value)]
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    rows = layer_table(model)
    assert sum(r["params"] for r in rows) == count_params(model)


# The margin study's candidates (ablation_plans.ABLATIONS["04_capacity-margin"]), counted by hand:
# conv1 1 -> C1: 9 C1 + 2 C1; conv2 C1 -> 16: 144 C1 + 32; trans1 16 -> S: 16 S; conv3 S -> C3:
# 9 S C3 + 2 C3; conv4 C3 -> 16: 144 C3 + 32; conv5 2,336; GAP -> 1x1 16 -> 10: 160.
MARGIN_PARAMS = {
    (10, 8, 16): 110 + 1_472 + 128 + 1_184 + 2_336 + 2_336 + 160,  # wide conv1/conv3: 7,726
    (8, 10, 16): 88 + 1_184 + 160 + 1_472 + 2_336 + 2_336 + 160,   # wide squeeze/conv3: 7,736
    (8, 8, 12): 88 + 1_184 + 128 + 888 + 1_760 + 2_336 + 160,      # the defaults: the GAP head's 6,544
}


@pytest.mark.parametrize(("width1", "squeeze", "width3"), list(MARGIN_PARAMS))
def test_the_margin_candidates_widen_only_the_layers_they_name(width1, squeeze, width3):
    model = get_model("step4", head="gap", width1=width1, squeeze=squeeze, width3=width3)
    assert count_params(model) == MARGIN_PARAMS[(width1, squeeze, width3)] < 8_000
    shapes = {r["name"]: r["shape"] for r in layer_table(model)}
    assert shapes["conv1"][0] == width1 and shapes["trans1"][0] == squeeze and shapes["conv3"][0] == width3
    assert shapes["conv2"][0] == 16 and shapes["conv4"][0] == 16 and shapes["fc"] == (10, 1, 1)
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="width1=0 is invalid; valid: .*>= 1"):
        get_model("step4", width1=0)


def test_the_pool_moved_to_rf_7_keeps_the_layers_and_grows_the_maps():
    rf = {r["name"]: (r["rf"], r["shape"]) for r in layer_table(get_model("step4", pool_after_rf=7))}
    assert rf["conv3"] == (7, (12, 22, 22)) and rf["pool1"] == (8, (12, 11, 11)) and rf["conv6"][0] == 20
    with pytest.raises(ValueError, match="pool_after_rf=6.*5.*7"):
        get_model("step4", pool_after_rf=6)
    late = {r["name"]: (r["rf"], r["shape"]) for r in layer_table(get_model("step4", pool_after_rf=7,
                                                                            transition=False))}
    assert late["conv3"] == (7, (10, 22, 22)) and late["pool1"] == (8, (10, 11, 11)) and "trans1" not in late
    with pytest.raises(ValueError, match="head='mlp'.*gap, fc"):
        get_model("step2", head="mlp")


def test_the_default_step4_is_the_recorded_recipe():
    from mnist_course.experiments.recipes import RECIPES

    recipe = RECIPES["04_capacity"]
    assert recipe.model == "step4"
    default, built = get_model("step4"), get_model("step4", **recipe.model_kwargs)
    assert str(default) == str(built)  # the same layers, dropout (none) included
    assert not any(isinstance(m, torch.nn.Dropout) for m in default.modules())


def test_the_default_step4_initialises_as_the_recorded_layer_order():
    """The recorded runs drew Step 4's initial weights in this layer order; the ablation
    switches must not change what a seed gives."""
    torch.manual_seed(0)
    recorded = torch.nn.Sequential(conv_bn(1, 8), conv_bn(8, 16), torch.nn.MaxPool2d(2),
                                   torch.nn.Conv2d(16, 8, 1, bias=False), conv_bn(8, 12), conv_bn(12, 16),
                                   conv_bn(16, 16),
                                   torch.nn.Conv2d(16, 10, 3, padding=1, bias=False))
    torch.manual_seed(0)
    model = get_model("step4")
    assert [n for n, _ in model.named_children()] == ["conv1", "conv2", "pool1", "trans1", "conv3", "conv4",
                                                      "conv5", "conv6", "gap"]
    ours, theirs = list(model.parameters()), list(recorded.parameters())
    assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_the_block_study_changes_only_the_order_or_the_nonlinearity():
    """The block study's rows (ablation_plans.ABLATIONS["04_capacity-block"]): same parameters and
    the same initial weights for a seed as the recipe; only each block's layers differ."""
    torch.manual_seed(0)
    recipe = get_model("step4", dropout=0.0)
    for changes, kinds in (({"bn_first": True}, [torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU]),
                           ({"activation": "silu"}, [torch.nn.Conv2d, torch.nn.SiLU, torch.nn.BatchNorm2d])):
        torch.manual_seed(0)
        model = get_model("step4", dropout=0.0, **changes)
        assert count_params(model) == count_params(recipe) == EXPECTED_PARAMS["step4"]
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), recipe.parameters(), strict=True))
        blocks = [getattr(model, f"conv{i}") for i in range(1, 6)]
        assert all([type(layer) for layer in block] == kinds for block in blocks), changes
        # the change reaches the logits (in training mode: freshly initialised BatchNorm is
        # x / sqrt(1 + eps) in evaluation mode, which commutes with ReLU)
        x = torch.randn(4, 1, 28, 28)
        assert not torch.allclose(model.train()(x), recipe.train()(x), atol=1e-4)
    # In conv -> BatchNorm -> ReLU, every block's output is a ReLU's: never negative.
    torch.manual_seed(0)
    out = get_model("step4", bn_first=True).eval().conv5(torch.randn(2, 16, 8, 8))
    assert out.min() >= 0
    with pytest.raises(ValueError, match="activation='gelu' is invalid; valid: 'relu', 'silu'"):
        get_model("step4", activation="gelu")
    with pytest.raises(ValueError, match="bn_first=True needs batchnorm=True"):
        conv_bn(8, 8, batchnorm=False, bn_first=True)


def test_the_class_map_head_is_a_linear_layer_on_the_channel_averages():
    """The claim behind the design study's head rows (models.Step4Capacity): for maps that
    are zero on their border ring, GAP(conv6(x)) equals the sum of conv6's nine kernels
    applied to GAP(x), i.e. a 16 -> 10 linear layer; only the border makes them differ."""
    torch.manual_seed(0)
    conv6 = get_model("step4").conv6
    x = torch.zeros(4, 16, 6, 6)
    x[:, :, 1:5, 1:5] = torch.randn(4, 16, 4, 4)
    linear = conv6.weight.sum(dim=(2, 3))                      # (10, 16): the kernels summed
    expected = x.mean(dim=(2, 3)) @ linear.T                   # (4, 10)
    assert torch.allclose(conv6(x).mean(dim=(2, 3)), expected, atol=1e-6)
    y = torch.randn(4, 16, 6, 6)                               # with a border, they differ
    assert not torch.allclose(conv6(y).mean(dim=(2, 3)), y.mean(dim=(2, 3)) @ linear.T, atol=1e-3)
    with pytest.raises(ValueError, match="head='mlp'.*conv.*gap.*block"):
        get_model("step4", head="mlp")


def test_step4_variant_without_a_change_is_step4_initialisation_included():
    # Step4Capacity reads as its step describes it; its ablations build Step4Variant,
    # which must be the same network, drawing the same initial weights, when nothing changes.
    from mnist_course.engine.models import Step4Capacity, Step4Variant

    torch.manual_seed(3)
    step4 = Step4Capacity()
    torch.manual_seed(3)
    variant = Step4Variant()
    assert type(get_model("step4")) is Step4Capacity and type(get_model("step4", dropout=0.0)) is Step4Variant
    one, two = step4.state_dict(), variant.state_dict()
    assert list(one) == list(two) and all(torch.equal(one[k], two[k]) for k in one)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(step4.eval()(x), variant.eval()(x))
    assert type(get_model("step4", pool_after_rf=7)) is Step4Variant
