"""The reference set-ups' networks (notebooks/reference/), each as its source describes it.

Every model takes X: (N, 1, 28, 28) float32 normalised images and returns logits
(N, 10), except ``IsThreeCNN``, which returns one logit per image (N,) for "is it a 3?"
(sigmoid(logit) > 0.5 <=> logit > 0), and ``PyTorchExampleNet``, which returns
log-probabilities as its source does. Each docstring names the repository and file it
follows; ``get_reference_model`` builds one by name.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class PyTorchExampleNet(nn.Module):
    """The classic pytorch/examples MNIST network (2 conv + 2 fully connected layers).

    Returns log-probabilities (N, 10), as the original does for its NLL loss; since
    log_softmax is idempotent, cross-entropy on them equals NLL on them.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)   # 28 -> 24
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)  # 12 -> 8
        self.conv2_drop = nn.Dropout2d()               # drops whole feature maps, p = 0.5
        self.fc1 = nn.Linear(320, 50)                  # 320 = 20 channels x 4 x 4
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):                                             # (N, 1, 28, 28)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))                    # (N, 10, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))   # (N, 20, 4, 4)
        x = x.flatten(1)                                              # (N, 320)
        x = F.relu(self.fc1(x))                                       # (N, 50)
        x = F.dropout(x, training=self.training)                      # p = 0.5
        return F.log_softmax(self.fc2(x), dim=1)                      # (N, 10) log-probabilities


class SladebotConvNet(nn.Module):
    """The network behind reference 1's published log: repository sladebot/MNIST,
    ``model.py`` at commit 7b2a21d (2021-07-16, the commit that added the README with the
    log). The same layers and 21,840 parameters as :class:`PyTorchExampleNet`, wired
    differently: each MaxPool comes before its ReLU, the only dropout (p = 0.5, on single
    activations) sits on the 320 flattened features, there is no Dropout2d, and there
    is **no activation between the two linear layers**, so fc2(fc1(x)) is one linear
    map of rank <= 50. Returns log-probabilities (N, 10), as the original does.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)   # 28 -> 24
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)  # 12 -> 8
        self.mp = nn.MaxPool2d(2)
        self.drop_out = nn.Dropout()                   # p = 0.5
        self.fc1 = nn.Linear(320, 50)                  # 320 = 20 channels x 4 x 4
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):                              # (N, 1, 28, 28)
        x = F.relu(self.mp(self.conv1(x)))             # (N, 10, 12, 12)
        x = F.relu(self.mp(self.conv2(x)))             # (N, 20, 4, 4)
        x = self.drop_out(x.flatten(1))                # (N, 320)
        x = self.fc2(self.fc1(x))                      # (N, 10): no ReLU between, as published
        return F.log_softmax(x, dim=1)                 # (N, 10) log-probabilities


class Wide593K(nn.Module):
    """The wide 593,200-parameter network: four 3x3 convs (32-64-128-256), two MaxPools,
    and a 4096 -> 50 -> 10 fully connected head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)     # 28 -> 26
        self.conv2 = nn.Conv2d(32, 64, 3)    # 26 -> 24
        self.pool1 = nn.MaxPool2d(2)         # 24 -> 12
        self.conv3 = nn.Conv2d(64, 128, 3)   # 12 -> 10
        self.conv4 = nn.Conv2d(128, 256, 3)  # 10 -> 8
        self.pool2 = nn.MaxPool2d(2)         # 8 -> 4
        self.fc1 = nn.Linear(4096, 50)       # 4096 = 256 channels x 4 x 4
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))      # (N, 64, 24, 24)
        x = self.pool1(x)                                  # (N, 64, 12, 12)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))      # (N, 256, 8, 8)
        x = self.pool2(x).flatten(1)                       # (N, 4096)
        return self.fc2(F.relu(self.fc1(x)))               # (N, 10) logits


class FullyConnected(nn.Module):
    """A fully connected network 784 -> 512 -> 256 -> 10 with dropout 0.2."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):                          # (N, 1, 28, 28)
        x = x.flatten(1)                           # (N, 784)
        x = self.drop(F.relu(self.fc1(x)))         # (N, 512)
        x = self.drop(F.relu(self.fc2(x)))         # (N, 256)
        return self.fc3(x)                         # (N, 10) logits


class SmallCNN(nn.Module):
    """Two padded 3x3 convs (16, 32 maps) with MaxPool, then 1568 -> 128 -> 64 -> 10
    with dropout 0.2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)   # 28 -> 28
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)  # 14 -> 14
        self.fc1 = nn.Linear(32 * 7 * 7, 128)         # 1568 = 32 channels x 7 x 7
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)         # (N, 16, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)         # (N, 32, 7, 7)
        x = x.flatten(1)                                   # (N, 1568)
        x = self.drop(F.relu(self.fc1(x)))                 # (N, 128)
        x = self.drop(F.relu(self.fc2(x)))                 # (N, 64)
        return self.fc3(x)                                 # (N, 10) logits


class IsThreeCNN(nn.Module):
    """One-vs-rest "is it a 3?": 5x5 convs with 16 and 32 maps, MaxPool and ReLU,
    dropout, a 256-unit fully connected layer and one output logit per image."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)      # 28 -> 24
        self.conv2 = nn.Conv2d(16, 32, 5)     # 12 -> 8
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32 * 4 * 4, 256)  # 512 = 32 channels x 4 x 4
        self.fc2 = nn.Linear(256, 1)

    def forward(self, x):                                  # (N, 1, 28, 28)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))         # (N, 16, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2(x), 2))         # (N, 32, 4, 4)
        x = self.drop(x.flatten(1))                        # (N, 512)
        x = self.drop(F.relu(self.fc1(x)))                 # (N, 256)
        return self.fc2(x).squeeze(1)                      # (N,) logit of "is a 3"


class Woolly3762(nn.Module):
    """The smallest public MNIST network we found at >= 99.4% within 15 epochs: 3,762
    parameters, 99.52% test accuracy at epoch 15 in one run (repository
    adilsammar/woolly-of-cv, ``assets/mnist/MNIST_ALBUMENTATION_3762_99.52.ipynb`` with
    ``assets/mnist/mnist/model.py`` at commit 7ade209: ``Net(base_channels=4, layers=3,
    drop=0.01, norm="bn")``).

    Three blocks of three padded 3x3 convolutions (with biases, before BatchNorm), each
    conv -> BatchNorm -> ReLU; a 2x2 MaxPool and dropout 0.01 after the first two
    blocks; GAP; a 1x1 convolution to the classes (with bias). Weights initialised as the
    source does (Xavier-uniform convolutions, zero biases). Returns log-probabilities
    (N, 10), as the source does for its NLL loss (cross-entropy on them is the same loss).
    """

    def __init__(self, widths: tuple = (4, 8, 8), drop: float = 0.01):
        super().__init__()
        blocks, channels = [], 1
        for i, width in enumerate(widths):
            for _ in range(3):
                blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            if i < 2:  # the third block keeps its 7x7 maps for GAP
                blocks += [nn.MaxPool2d(2, 2), nn.Dropout(drop)]
        self.features = nn.Sequential(*blocks)     # (N, 4, 28, 28) -> (N, 8, 14, 14) -> (N, 8, 7, 7)
        self.gap = nn.AdaptiveAvgPool2d(1)          # (N, 8, 1, 1)
        self.classes = nn.Conv2d(channels, 10, 1)  # (N, 10, 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):                                        # (N, 1, 28, 28)
        x = self.classes(self.gap(self.features(x)))             # (N, 10, 1, 1)
        return F.log_softmax(x.flatten(1), dim=1)                # (N, 10) log-probabilities


REFERENCE_MODELS = {
    "pytorch_example": PyTorchExampleNet,
    "wide593k": Wide593K,
    "fcnn": FullyConnected,
    "small_cnn": SmallCNN,
    "is_three": IsThreeCNN,
    "sladebot": SladebotConvNet,
    "woolly3762": Woolly3762,
}


def get_reference_model(name: str) -> nn.Module:
    """A fresh reference model by name; raises ValueError listing the valid names."""
    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {name!r}; valid names: {', '.join(REFERENCE_MODELS)}")
    return REFERENCE_MODELS[name]()
