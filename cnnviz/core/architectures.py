"""Every architecture cnnviz can build, and the quirks of loading weights into each.

One table for both families: the project's own networks (:mod:`cnnviz.core.networks`, trained on the
bundled data) and torchvision's (ImageNet weights). An entry builds the module with seeded random weights
in the shape its weight files have; the few architectures whose files need more than a plain strict load
subclass :class:`Architecture` and override the one step that differs (GoogLeNet: auxiliary heads and
the input transform).

The table lives here rather than in :mod:`cnnviz.core.networks`, which holds module definitions only
(the trainer imports those classes); the torchvision entries and the weight-file quirks are about loading.

Examples::

    >>> net = architecture("lenet5").build(10)
    >>> sum(p.numel() for p in net.parameters())
    61706
    >>> architecture("lenet-7")
    Traceback (most recent call last):
    UnknownModelError: unknown architecture 'lenet-7'. Known architectures: alexnet, deep-cnn, ...
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.core.networks import ARCHITECTURES as NETWORKS
from cnnviz.errors import CnnvizError


class UnknownModelError(CnnvizError, KeyError):
    """A model or architecture name cnnviz does not know (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Architecture:
    """One architecture: how to build it and how its weight files are loaded.

    The base loads a state_dict as it is; a subclass overrides :meth:`fit_state` or :meth:`finish`
    where an architecture's files need more.
    """

    name: str

    def build(self, num_classes: int | None = None, *, for_weights: bool = True) -> nn.Module:
        """The module with seeded random weights (the same every time), shaped to take its weight files.

        Args:
            num_classes: output classes (default: the architecture's own, 10 or ImageNet's 1000).
            for_weights: whether trained weights will be loaded (some architectures are built differently then).
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return self.construct(num_classes, for_weights)

    def construct(self, num_classes: int | None, for_weights: bool) -> nn.Module:
        raise NotImplementedError

    def fit_state(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        """Shape ``module`` to take ``state`` before the strict load (default: nothing to do)."""

    def finish(self, module: nn.Module, trained: bool = True) -> nn.Module:
        """The module as it is served, after its weights are loaded (``trained``) or not (default: as it is)."""
        return module


@dataclass(frozen=True)
class OwnNetwork(Architecture):
    """One of the project's own networks (:data:`cnnviz.core.networks.ARCHITECTURES`)."""

    def construct(self, num_classes: int | None, for_weights: bool) -> nn.Module:
        return NETWORKS[self.name](num_classes=num_classes or 10)


@dataclass(frozen=True)
class Torchvision(Architecture):
    """A torchvision architecture, built without weights (they are loaded from a file, never downloaded here)."""

    def construct(self, num_classes: int | None, for_weights: bool) -> nn.Module:
        import torchvision

        kwargs = self.options(for_weights) | ({} if num_classes is None else {"num_classes": num_classes})
        return torchvision.models.get_model(self.name, weights=None, **kwargs)

    def options(self, for_weights: bool) -> dict:
        """Keyword arguments of torchvision's builder beyond ``num_classes``."""
        return {}


@dataclass(frozen=True)
class GoogLeNet(Torchvision):
    """GoogLeNet's ImageNet file holds two auxiliary classifiers and expects ``transform_input`` (it re-normalises
    the input inside the network); torchvision drops the auxiliary heads after loading, and so does cnnviz."""

    def options(self, for_weights: bool) -> dict:
        return {"aux_logits": True, "init_weights": True, "transform_input": for_weights}

    def fit_state(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        if not any(k.startswith("aux") for k in state):  # your own file, saved without the auxiliary heads
            module.aux1 = module.aux2 = None
            module.aux_logits = False

    def finish(self, module: nn.Module, trained: bool = True) -> nn.Module:
        if not trained:  # random weights: no ImageNet re-normalisation inside the network
            module.transform_input = False
        module.aux_logits = False
        module.aux1 = None
        module.aux2 = None
        return module


REGISTRY: dict[str, Architecture] = {
    **{name: OwnNetwork(name) for name in NETWORKS},
    **{name: Torchvision(name) for name in ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v3_small")},
    "googlenet": GoogLeNet("googlenet"),
}


def architecture(name: str) -> Architecture:
    """The registry's entry for ``name``.

    Raises:
        UnknownModelError: ``name`` is not in :data:`REGISTRY` (the message lists what is).
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {name!r}. Known architectures: "
                                f"{', '.join(sorted(REGISTRY))}") from None
