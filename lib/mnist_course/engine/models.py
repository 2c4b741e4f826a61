"""The models of the course: one class per step, then the design space of Step 5.

Every model takes X: (N, 1, 28, 28) float32 normalised images and returns logits
(N, 10) (unnormalised class scores; ``F.cross_entropy`` applies the softmax).
Convolutions are 3x3 without padding, so each one shrinks the map by 2 pixels and
grows the receptive field (RF) by 2 x (product of earlier strides). ``layer_table``
prints the shape and RF after every layer.

Step 1  Setup          a plain CNN with a fully connected head: makes the pipeline work.
Step 2  Skeleton       conv blocks -> MaxPool + 1x1 transition -> conv blocks -> GAP.
Step 3  BatchNorm      the skeleton, slimmed under 8K parameters, with BatchNorm.
Step 4  Capacity       MaxPool moved to RF 5 and the saved budget spent after it.
Step 5  Search         ``SearchNet(Architecture(...))``: any point of the design space that
                       generalises Steps 2-4 (``mnist_course.experiments.search`` searches it).

The reference set-ups' networks (notebooks/reference/) are in
:mod:`mnist_course.engine.reference_models`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .data import CLASSES, IMAGE_SIZE

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}  # name -> module class, for conv_bn


def conv_bn(in_channels: int, out_channels: int, padding: int = 0, dropout: float = 0.0,
            batchnorm: bool = True, bn_momentum: float = 0.1, bn_first: bool = False,
            activation: str = "relu") -> nn.Sequential:
    """3x3 conv -> ReLU -> BatchNorm -> Dropout (no bias: BatchNorm has its own shift).
    With ``batchnorm=False`` (an ablation): 3x3 conv with bias -> ReLU -> Dropout.
    bn_momentum: BatchNorm's weight of each training batch in its running mean and
    variance (torch's default 0.1: roughly an average over the last 10 batches), which
    evaluation uses in place of batch statistics.
    bn_first (an ablation): conv -> BatchNorm -> ReLU, the order of Ioffe and Szegedy
    ("Batch Normalization", ICML 2015, section 3.2) and of ResNet, where BatchNorm's
    learned shift sets each unit's ReLU threshold.
    activation (an ablation): "relu" (default) or "silu", x * sigmoid(x) (Ramachandran
    et al., "Searching for Activation Functions", 2017), which is smooth and passes a
    small gradient for negative inputs, so no unit of a narrow layer stays switched off.
    Raises ValueError for another activation, or for bn_first without BatchNorm.
    Neither option adds parameters or draws random numbers: the default model is
    unchanged, initialisation included."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is invalid; valid: {', '.join(map(repr, ACTIVATIONS))}")
    if bn_first and not batchnorm:
        raise ValueError("bn_first=True needs batchnorm=True: without BatchNorm there is no order to change")
    act = ACTIVATIONS[activation]()
    if not batchnorm:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=padding), act,
                             *([nn.Dropout(dropout)] if dropout > 0 else []))
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=padding, bias=False)
    bn = nn.BatchNorm2d(out_channels, momentum=bn_momentum)
    layers = [conv, bn, act] if bn_first else [conv, act, bn]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def separable_conv_bn(in_channels: int, out_channels: int, padding: int = 0, dropout: float = 0.0,
                      bn_first: bool = False) -> nn.Sequential:
    """A depthwise-separable 3x3 convolution -> ReLU -> BatchNorm -> Dropout: a depthwise
    3x3 conv (one 3x3 filter per input channel, ``groups=in_channels``) then a pointwise
    1x1 conv that mixes the channels, with nothing between the two (Chollet, "Xception",
    CVPR 2017, section 4.7: no activation there trained best). Same output shape and
    receptive field as :func:`conv_bn`'s 3x3 conv for 9 x C_in + C_in x C_out weights
    instead of 9 x C_in x C_out (Howard et al., "MobileNets", 2017): 16 -> 16 channels
    cost 400 instead of 2,304. bn_first (an ablation): BatchNorm before the ReLU, as in
    :func:`conv_bn`."""
    norm = [nn.BatchNorm2d(out_channels), nn.ReLU()] if bn_first else [nn.ReLU(), nn.BatchNorm2d(out_channels)]
    layers = [nn.Conv2d(in_channels, in_channels, 3, padding=padding, groups=in_channels, bias=False),
              nn.Conv2d(in_channels, out_channels, 1, bias=False), *norm]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def conv_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Conv (no padding) -> ReLU, the block of the models without BatchNorm."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size), nn.ReLU())


class Step1Setup(nn.Module):
    """Step 1: a working baseline. Most of its parameters sit in the fully connected layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_relu(1, 8)     # 28 -> 26, RF 3
        self.conv2 = conv_relu(8, 16)    # 26 -> 24, RF 5
        self.pool1 = nn.MaxPool2d(2)     # 24 -> 12, RF 6
        self.conv3 = conv_relu(16, 32)   # 12 -> 10, RF 10
        self.pool2 = nn.MaxPool2d(2)     # 10 -> 5,  RF 12
        self.fc1 = nn.Linear(32 * 5 * 5, 200)  # 800 inputs = 32 channels x 5 x 5 pixels
        self.fc2 = nn.Linear(200, 10)

    def forward(self, x):               # (N, 1, 28, 28)
        x = self.pool1(self.conv2(self.conv1(x)))  # (N, 16, 12, 12)
        x = self.pool2(self.conv3(x))   # (N, 32, 5, 5)
        x = x.flatten(1)                # (N, 800)
        x = torch.relu(self.fc1(x))     # (N, 200)
        return self.fc2(x)              # (N, 10) logits


class Step2Skeleton(nn.Module):
    """Step 2: the skeleton every later step keeps — no fully connected layer, GAP head.
    Ablations: ``head="fc"`` flattens the last map into a fully connected layer instead;
    ``transition=False`` drops the 1x1 squeeze after the MaxPool, so conv4 reads all 32
    pooled channels (32 -> 16 instead of 8 -> 16)."""

    HEADS = ("gap", "fc")

    def __init__(self, head: str = "gap", transition: bool = True):
        if head not in self.HEADS:
            raise ValueError(f"head={head!r} is invalid; valid: {', '.join(self.HEADS)}")
        super().__init__()
        # Block 1: edges and gradients
        self.conv1 = conv_relu(1, 8)     # 28 -> 26, RF 3
        self.conv2 = conv_relu(8, 16)    # 26 -> 24, RF 5
        self.conv3 = conv_relu(16, 32)   # 24 -> 22, RF 7
        # Transition: MaxPool halves the map, a 1x1 conv cuts the channels
        self.pool1 = nn.MaxPool2d(2)     # 22 -> 11, RF 8
        self.trans1 = conv_relu(32, 8, kernel_size=1) if transition else None  # 11 -> 11, RF 8
        # Block 2: parts of digits
        self.conv4 = conv_relu(8 if transition else 32, 16)  # 11 -> 9, RF 12
        self.conv5 = conv_relu(16, 32)   # 9 -> 7,  RF 16
        self.conv6 = conv_relu(32, 16)   # 7 -> 5,  RF 20
        # Output: global average pooling, then a 1x1 conv to the 10 classes
        if head == "gap":
            self.gap = nn.AdaptiveAvgPool2d(1)  # 5 -> 1
            self.head = nn.Conv2d(16, 10, 1)
        else:
            self.head = nn.Linear(16 * 5 * 5, 10)  # 400 inputs = 16 channels x 5 x 5 pixels

    def forward(self, x):               # (N, 1, 28, 28)
        x = self.conv3(self.conv2(self.conv1(x)))  # (N, 32, 22, 22)
        x = self.pool1(x)               # (N, 32, 11, 11)
        if self.trans1 is not None:
            x = self.trans1(x)          # (N, 8, 11, 11)
        x = self.conv6(self.conv5(self.conv4(x)))  # (N, 16, 5, 5)
        if isinstance(self.head, nn.Linear):
            return self.head(x.flatten(1))  # (N, 400) -> (N, 10) logits
        x = self.head(self.gap(x))      # (N, 10, 1, 1)
        return x.flatten(1)             # (N, 10) logits


class Step3BatchNorm(nn.Module):
    """Step 3: the skeleton under 8K parameters, with BatchNorm after every 3x3 conv
    except the last, which maps straight to the 10 classes before GAP.
    ``batchnorm=False`` (an ablation): the same widths without BatchNorm, with conv biases."""

    def __init__(self, batchnorm: bool = True):
        super().__init__()
        bn = {"batchnorm": batchnorm}
        self.conv1 = conv_bn(1, 8, **bn)     # 28 -> 26, RF 3
        self.conv2 = conv_bn(8, 12, **bn)    # 26 -> 24, RF 5
        self.conv3 = conv_bn(12, 16, **bn)   # 24 -> 22, RF 7
        self.pool1 = nn.MaxPool2d(2)         # 22 -> 11, RF 8
        self.trans1 = nn.Conv2d(16, 8, 1, bias=False)  # 11 -> 11, RF 8
        self.conv4 = conv_bn(8, 12, **bn)    # 11 -> 9, RF 12
        self.conv5 = conv_bn(12, 16, **bn)   # 9 -> 7,  RF 16
        self.conv6 = nn.Conv2d(16, 10, 3, bias=False)  # 7 -> 5, RF 20: class maps
        self.gap = nn.AdaptiveAvgPool2d(1)             # 5 -> 1

    def forward(self, x):               # (N, 1, 28, 28)
        x = self.conv3(self.conv2(self.conv1(x)))  # (N, 16, 22, 22)
        x = self.trans1(self.pool1(x))  # (N, 8, 11, 11)
        x = self.conv5(self.conv4(x))   # (N, 16, 7, 7)
        x = self.gap(self.conv6(x))     # (N, 10, 1, 1)
        return x.flatten(1)             # (N, 10) logits


class Step4Capacity(nn.Module):
    """Step 4: MaxPool right after RF 5, where MNIST's strokes are resolved; the budget
    this saves at full resolution is spent after the pool, where a layer costs a quarter
    as much compute, and the last conv (padded) maps straight to the 10 classes before GAP.
    7,824 parameters. Its ablations (the pool one conv later, no extra block, ...) build
    :class:`Step4Variant`, which is this network when given no change."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_bn(1, 8)       # 28 -> 26, RF 3
        self.conv2 = conv_bn(8, 16)      # 26 -> 24, RF 5: strokes resolved
        self.pool1 = nn.MaxPool2d(2)     # 24 -> 12, RF 6
        self.trans1 = nn.Conv2d(16, 8, 1, bias=False)  # 12 -> 12, RF 6: 16 -> 8 channels
        self.conv3 = conv_bn(8, 12)      # 12 -> 10, RF 10
        self.conv4 = conv_bn(12, 16)     # 10 -> 8,  RF 14
        self.conv5 = conv_bn(16, 16)     # 8 -> 6,   RF 18: the block the saved budget pays for
        self.conv6 = nn.Conv2d(16, 10, 3, padding=1, bias=False)  # 6 -> 6, RF 22: class maps
        self.gap = nn.AdaptiveAvgPool2d(1)                        # 6 -> 1: average each class map

    def forward(self, x):               # (N, 1, 28, 28)
        x = self.pool1(self.conv2(self.conv1(x)))  # (N, 16, 12, 12)
        x = self.conv3(self.trans1(x))  # (N, 12, 10, 10)
        x = self.conv5(self.conv4(x))   # (N, 16, 6, 6)
        x = self.gap(self.conv6(x))     # (N, 10, 1, 1)
        return x.flatten(1)             # (N, 10) logits


class Step4Variant(nn.Module):
    """Step 4 with one ablation's change (``get_model("step4", **change)`` builds it); with
    no change it is :class:`Step4Capacity`, initialisation included (same layers, same order).
    ``pool_after_rf=7``: the MaxPool one conv later (after conv3), same parameters;
    ``extra_block=False``: no conv5; ``transition=False``: no 1x1 squeeze, conv3 reads the
    16 pooled channels (16 -> 10, 7,980 parameters); ``dropout``: after conv3-conv5;
    ``bn_momentum``, ``bn_first``, ``activation``: every block's (:func:`conv_bn`).
    ``head``: ``"conv"`` (Step 4's padded 3x3 conv to the class maps, then GAP; conv and GAP
    are both linear, so its 1,440 parameters act almost like a 16 -> 10 layer on the 16
    averages), ``"gap"`` (GAP then a 1x1 conv 16 -> 10: 160 parameters, 6,544 in all) or
    ``"block"`` (a fourth block conv6 16 -> 16 before GAP -> 1x1, conv3/conv4 trimmed to
    10/14 channels: 7,972). ``width1``, ``squeeze``, ``width3``: the output channels of
    conv1 (8), the 1x1 transition (8) and conv3 (12; 10 without the transition or with
    the "block" head). Raises ValueError for a ``pool_after_rf`` other than 5 or 7, an
    unknown ``head`` or ``activation``, or a width below 1."""

    def __init__(self, dropout: float = 0.0, pool_after_rf: int = 5, extra_block: bool = True,
                 transition: bool = True, bn_momentum: float = 0.1, head: str = "conv",
                 width1: int = 8, squeeze: int = 8, width3: int | None = None,
                 bn_first: bool = False, activation: str = "relu"):
        if pool_after_rf not in (5, 7):
            raise ValueError(f"pool_after_rf={pool_after_rf!r} is invalid; valid: 5 (after conv2), 7 (after conv3)")
        if head not in ("conv", "gap", "block"):
            raise ValueError(f"head={head!r} is invalid; valid: 'conv', 'gap', 'block'")
        for name, value in (("width1", width1), ("squeeze", squeeze), ("width3", width3)):
            if value is not None and value < 1:
                raise ValueError(f"{name}={value!r} is invalid; valid: a whole number of channels >= 1")
        super().__init__()
        # Layers are registered in the order forward runs them (layer_table relies on it).
        bn = {"bn_momentum": bn_momentum, "bn_first": bn_first, "activation": activation}
        self.conv1 = conv_bn(1, width1, **bn)
        self.conv2 = conv_bn(width1, 16, **bn)
        if pool_after_rf == 5:
            self.pool1 = nn.MaxPool2d(2)
        if transition:
            self.trans1 = nn.Conv2d(16, squeeze, 1, bias=False)
        width, width4 = (10, 14) if head == "block" else (12 if transition else 10, 16)
        width = width3 if width3 is not None else width
        self.conv3 = conv_bn(squeeze if transition else 16, width, dropout=dropout, **bn)
        if pool_after_rf == 7:
            self.pool1 = nn.MaxPool2d(2)
        self.conv4 = conv_bn(width, width4, dropout=dropout, **bn)
        if extra_block:
            self.conv5 = conv_bn(width4, 16, dropout=dropout, **bn)
        if head == "block":
            self.conv6 = conv_bn(16, 16, padding=1, dropout=dropout, **bn)
        elif head == "conv":
            self.conv6 = nn.Conv2d(16, 10, 3, padding=1, bias=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        if head != "conv":
            self.fc = nn.Conv2d(16, 10, 1, bias=False)  # (N, 16, 1, 1) -> (N, 10, 1, 1): logits

    def forward(self, x):               # (N, 1, 28, 28)
        for layer in self.children():   # in registration order, which is forward's
            x = layer(x)
        return x.flatten(1)             # (N, 10) logits


# ---------------------------------------------------------------------------
# Step 5's design space: one network class for every point of it
# ---------------------------------------------------------------------------

HEADS = ("conv", "gap")                     # 3x3 class maps then GAP; GAP then 1x1 to the classes
SEPARABLE = ("none", "after_pool", "all")   # which 3x3 convolutions are depthwise-separable


def separable_at(separable: str, index: int, before_pool: int) -> bool:
    """Whether the ``index``-th 3x3 convolution (0 = the first; the ``before_pool`` ones at
    full resolution come first, then those after the pool) is depthwise-separable under
    ``separable`` (one of ``SEPARABLE``): never the first, whose single input channel
    leaves nothing to separate."""
    return index > 0 if separable == "all" else separable == "after_pool" and index >= before_pool


@dataclass(frozen=True)
class Architecture:
    """One point of the design space (all widths are output channels).

    before_pool: the 3x3 convolutions at full resolution, 1-3 of them (the MaxPool
    follows at RF 3, 5 or 7); transition: width of the 1x1 convolution after the pool,
    0 for none; after_pool: the 3x3 convolutions after the pool, 1-4; last_padding:
    padding of the 3x3 class-map convolution (0 or 1; unused by the "gap" head);
    dropout: fraction of activations zeroed after each convolution of the second block;
    head: "conv" (3x3 conv to 10 class maps, then GAP) or "gap" (GAP, then a 1x1 conv
    to the 10 classes); separable: which 3x3 convolutions of the two blocks are
    depthwise-separable (:func:`separable_conv_bn`): "none", "after_pool" (those of the
    second block) or "all" (every one but the first, whose single input channel leaves
    nothing to separate). Raises ValueError naming a bad field and what is valid,
    including a stack whose maps shrink below 1 pixel.
    """

    before_pool: tuple[int, ...]
    transition: int
    after_pool: tuple[int, ...]
    last_padding: int = 1
    dropout: float = 0.0
    head: str = "conv"
    separable: str = "none"

    def __post_init__(self):
        for name, convs, most in (("before_pool", self.before_pool, 3), ("after_pool", self.after_pool, 4)):
            if not (1 <= len(convs) <= most and all(isinstance(c, int) and c >= 1 for c in convs)):
                raise ValueError(f"{name}={convs!r} is invalid; use 1 to {most} positive channel counts")
        if not (isinstance(self.transition, int) and self.transition >= 0):
            raise ValueError(f"transition={self.transition!r} is invalid; use 0 (none) or a positive width")
        if self.last_padding not in (0, 1):
            raise ValueError(f"last_padding={self.last_padding!r} is invalid; valid: 0, 1")
        if self.head not in HEADS:
            raise ValueError(f"head={self.head!r} is invalid; valid: {', '.join(map(repr, HEADS))}")
        if self.separable not in SEPARABLE:
            raise ValueError(f"separable={self.separable!r} is invalid; valid: {', '.join(map(repr, SEPARABLE))}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout!r} is invalid; use a fraction in [0, 1)")
        if self.map_size() < 1:
            raise ValueError(f"{self} shrinks the map below 1 pixel before GAP; use fewer convolutions "
                             f"or last_padding=1")

    @classmethod
    def from_dict(cls, fields: dict) -> Architecture:
        """The architecture of a dict as ``dataclasses.asdict`` or JSON left it (lists for
        the tuples): e.g. a trial's stored attributes or a report's ``architecture``."""
        return cls(**{**fields, "before_pool": tuple(fields["before_pool"]),
                      "after_pool": tuple(fields["after_pool"])})

    def is_separable(self, index: int) -> bool:
        """Whether the ``index``-th 3x3 convolution of the two blocks (0 = the first
        before the pool; the after-pool ones follow) is depthwise-separable."""
        return separable_at(self.separable, index, len(self.before_pool))

    def map_size(self) -> int:
        """Side of the maps that GAP averages (pixels): each unpadded 3x3 conv takes 2,
        the MaxPool halves (rounding down)."""
        size = (IMAGE_SIZE - 2 * len(self.before_pool)) // 2 - 2 * len(self.after_pool)
        return size - 2 + 2 * self.last_padding if self.head == "conv" else size


def architecture_params(arch: Architecture) -> int:
    """Trainable parameters of ``SearchNet(arch)``, computed without building it: a 3x3
    conv (no bias) has 9 * C_in * C_out weights, a separable one 9 * C_in + C_in * C_out,
    and either's BatchNorm 2 * C_out; the 1x1 transition C_in * C_out; the class-map conv
    9 * C_in * 10, the "gap" head's 1x1 C_in * 10."""
    total, channels = 0, 1
    for index, width in enumerate(arch.before_pool + arch.after_pool):
        if index == len(arch.before_pool) and arch.transition:
            total, channels = total + channels * arch.transition, arch.transition
        weights = 9 * channels + channels * width if arch.is_separable(index) else 9 * channels * width
        total, channels = total + weights + 2 * width, width
    return total + (9 if arch.head == "conv" else 1) * channels * CLASSES


class SearchNet(nn.Module):
    """The network of an :class:`Architecture`: conv1.. (full resolution) -> pool1 ->
    trans1 (if any) -> further convs (each a 3x3 conv or, as ``arch.separable`` says, a
    depthwise-separable one) -> classes (3x3 to 10 maps) -> gap, or with the
    "gap" head: ... -> gap -> classes (1x1 to 10). Layers are
    registered in the order forward runs them, so ``models.layer_table`` gives each
    one's shape and receptive field. X: (N, 1, 28, 28) -> logits (N, 10).
    bn_first (an ablation, not a point of the design space): every block conv ->
    BatchNorm -> ReLU instead of conv -> ReLU -> BatchNorm (see :func:`conv_bn`); no
    parameter and no initial weight changes."""

    def __init__(self, arch: Architecture, bn_first: bool = False):
        super().__init__()
        channels = 1
        for index, width in enumerate(arch.before_pool + arch.after_pool):
            after = index >= len(arch.before_pool)
            if index == len(arch.before_pool):
                self.pool1 = nn.MaxPool2d(2)
                if arch.transition:
                    self.trans1 = nn.Conv2d(channels, arch.transition, 1, bias=False)
                    channels = arch.transition
            block = separable_conv_bn if arch.is_separable(index) else conv_bn
            self.add_module(f"conv{index + 1}", block(channels, width, dropout=arch.dropout if after else 0.0,
                                                      bn_first=bn_first))
            channels = width
        if arch.head == "conv":
            self.classes = nn.Conv2d(channels, CLASSES, 3, padding=arch.last_padding, bias=False)
            self.gap = nn.AdaptiveAvgPool2d(1)
        else:
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.classes = nn.Conv2d(channels, CLASSES, 1, bias=False)  # (N, C, 1, 1) -> (N, 10, 1, 1)

    def forward(self, x):               # (N, 1, 28, 28)
        for layer in self.children():   # ... the last of classes and gap: (N, 10, 1, 1)
            x = layer(x)
        return x.flatten(1)             # (N, 10) logits


# ---------------------------------------------------------------------------
# The reference set-ups' architectures
# ---------------------------------------------------------------------------


def searched(before_pool, transition: int, after_pool, last_padding: int = 1, dropout: float = 0.0,
             head: str = "conv", separable: str = "none", bn_first: bool = False) -> SearchNet:
    """Step 5's network from the fields of an :class:`Architecture` as keywords (lists,
    as JSON leaves them, are taken for the widths): the form in which a searched model is
    a recipe (``recipes.SEARCH_5000``) and ``get_model("searched", ...)``
    builds it. ``bn_first``: see :class:`SearchNet`. Raises ValueError as
    :class:`Architecture` does."""
    return SearchNet(Architecture(tuple(before_pool), transition, tuple(after_pool), last_padding, dropout,
                                  head, separable), bn_first=bn_first)


MODELS = {
    "step1": Step1Setup,
    "step2": Step2Skeleton,
    "step3": Step3BatchNorm,
    "step4": Step4Capacity,
}
# Every model :func:`get_model` builds by name: the step models and Step 5's searched
# networks (which need an architecture's fields, so they are not among the step models).
BUILDERS = MODELS | {"searched": searched, "step4_variant": Step4Variant}
# A step model whose ablations change it by keywords: the class those keywords build.
VARIANTS = {"step4": "step4_variant"}


def get_model(name: str, **kwargs) -> nn.Module:
    """A fresh model by name ("step1" ... "step4", or "searched" with the fields of an
    :class:`Architecture`); "step4" with keywords (an ablation's change) builds a
    :class:`Step4Variant`. Raises ValueError listing valid names."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(BUILDERS)}")
    return BUILDERS[VARIANTS.get(name, name) if kwargs else name](**kwargs)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm's scale and shift included)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _first(v):
    return v[0] if isinstance(v, tuple) else v


def layer_table(model: nn.Module, input_size: tuple[int, ...] = (1, 1, 28, 28)) -> list[dict]:
    """Output shape, receptive field and parameters after each named top-level layer.

    Runs one dummy batch of ``input_size`` through ``model`` on the CPU in eval mode.
    RF rule: a k x k layer with stride s grows the RF by (k - 1) x jump and multiplies
    the jump (distance in input pixels between neighbouring outputs) by s.
    Returns one dict per layer: name, shape (C, H, W) or (F,), rf (pixels), jump, params.
    """
    rows, rf, jump = [], 1, 1
    x = torch.zeros(input_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for name, layer in model.named_children():
                if isinstance(layer, nn.Linear) and x.dim() > 2:
                    x = x.flatten(1)
                size_before = x.shape[-1]
                x = layer(x)
                for m in layer.modules():
                    if isinstance(m, nn.AdaptiveAvgPool2d):
                        # GAP averages the whole map: a kernel as wide as its input.
                        k, s = size_before, size_before
                    elif hasattr(m, "kernel_size"):
                        k, s = _first(m.kernel_size), _first(m.stride)
                    else:
                        continue
                    rf += (k - 1) * jump
                    jump *= s
                rows.append({"name": name, "shape": tuple(x.shape[1:]), "rf": rf, "jump": jump,
                             "params": sum(p.numel() for p in layer.parameters())})
    finally:
        model.train(was_training)
    return rows


def format_layer_table(rows: list[dict], image_size: int = 28) -> str:
    """``layer_table`` rows as a fixed-width text table. When a receptive field is wider
    than the ``image_size`` x ``image_size`` input (pixels), a note under the table says
    why that is possible."""
    lines = [f"{'layer':<8} {'output (C, H, W)':<18} {'RF':>4} {'params':>8}"]
    for r in rows:
        lines.append(f"{r['name']:<8} {str(r['shape']):<18} {r['rf']:>4} {r['params']:>8,}")
    lines.append(f"{'total':<8} {'':<18} {'':>4} {sum(r['params'] for r in rows):>8,}")
    wide = [r["name"] for r in rows if r["rf"] > image_size]
    if wide:
        # The RF rule counts the window a unit could see; past the image's edge that window
        # covers padding (or nothing), so RF > 28 means "sees the whole digit", not more.
        lines.append(f"RF > {image_size} ({', '.join(wide)}): the window is wider than the "
                     f"{image_size}x{image_size} image; the part past its edge is padding, so each "
                     f"output sees the whole digit.")
    return "\n".join(lines)
