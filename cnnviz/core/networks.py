"""The project's own small architectures, trained on the bundled data sets."""
from __future__ import annotations

import torch
from torch import nn

from cnnviz.core.capsnet import CapsNet


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) for 28x28 grayscale digits, with ReLU and max pooling.

    conv1 6@5x5 pad 2 -> 28x28, pool -> 14x14, conv2 16@5x5 -> 10x10, pool -> 5x5,
    fc 120, fc 84, fc classes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class SmallVGG(nn.Module):
    """A small VGG-style CNN: three blocks of stacked 3x3 convolutions with BatchNorm.

    28x28 -> [32,32] pool 14 -> [64,64] pool 7 -> [128] global average pool -> fc classes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            *_block(in_channels, 32), *_block(32, 32), nn.MaxPool2d(2),
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),
            *_block(64, 128),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


ARCHITECTURES = {"lenet5": LeNet5, "small-vgg": SmallVGG}


_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class _ConvUnit(nn.Module):
    """One 3x3 conv layer of :class:`DeepCNN`: plain ``act(bn(conv(x)))`` or residual ``x + conv(act(bn(x)))``."""

    def __init__(self, width: int, activation: str, batchnorm: bool, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=not batchnorm)
        self.bn = nn.BatchNorm2d(width) if batchnorm else nn.Identity()
        self.act = _ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:  # pre-activation unit (He et al. 2016): the identity path carries the gradient unchanged
            return x + self.conv(self.act(self.bn(x)))
        return self.act(self.bn(self.conv(x)))


class DeepCNN(nn.Module):
    """A configurable deep CNN for 28x28 grayscale images: the lecture's vanishing-gradient experiments.

    ``depth`` 3x3 conv layers of ``width`` channels: a stem conv at 28x28, max pool to 14x14, the first half
    of the remaining layers, max pool to 7x7, the second half; then flatten, dropout and one linear layer.
    Plain layers are ``act(bn(conv(x)))``; residual ones ``x + conv(act(bn(x)))`` (pre-activation), so the
    pools and the skips form a parameter-free path from the loss to the stem.

    Args:
        depth: number of conv layers, 2 to 20.
        activation: ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
        batchnorm: BatchNorm after (plain) or before (residual) every conv but the stem.
        residual: identity skip connections around every conv but the stem.
        width: channels of every conv layer.
        dropout: dropout probability before the linear head.

    Examples::

        >>> net = DeepCNN(depth=20, activation="sigmoid")
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, depth: int = 8, activation: str = "relu",
                 batchnorm: bool = False, residual: bool = False, width: int = 16, dropout: float = 0.0):
        super().__init__()
        if not 2 <= depth <= 20:
            raise ValueError(f"depth must be 2 to 20 conv layers, got {depth}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.stem_act = nn.Identity() if residual else _ACTIVATIONS[activation]()
        self.body = nn.ModuleList(_ConvUnit(width, activation, batchnorm, residual) for _ in range(depth - 1))
        self.split = (depth - 1) // 2  # units at 14x14; the rest run at 7x7
        self.pool = nn.MaxPool2d(2)
        # plain units end in their activation; residual ones need one after the last sum
        self.final_bn = nn.BatchNorm2d(width) if batchnorm and residual else nn.Identity()
        self.final_act = _ACTIVATIONS[activation]() if residual else nn.Identity()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * 7 * 7, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem_act(self.stem(x)))
        for i, unit in enumerate(self.body):
            if i == self.split:
                x = self.pool(x)
            x = unit(x)
        if self.split == len(self.body):
            x = self.pool(x)
        return self.head(self.final_act(self.final_bn(x)))


ARCHITECTURES["deep-cnn"] = DeepCNN


class SimpleCNN(nn.Module):
    """A plain CNN of 3x3 convolutions without BatchNorm (the classic Keras MNIST design): the second digit model,
    of another architecture than LeNet-5, that the adversarial page transfers attacks to.

    28x28 -> conv 32@3x3, conv 32@3x3, pool -> 14x14, conv 64@3x3, pool -> 7x7, fc 128, fc classes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                                        nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


ARCHITECTURES["simple-cnn"] = SimpleCNN

ARCHITECTURES["capsnet"] = CapsNet  # defined in core/capsnet.py (squashing, routing by agreement, the decoder)
