"""Capsule networks (Sabour, Frosst & Hinton 2017): squashing, routing by agreement, and what the bundled
``capsnet-mnist`` does with a digit.

The math and the network are in :mod:`cnnviz.core.capsnet` (so the bundled model builds without this package);
this package re-exports them with the analyses the /capsules page draws.

Examples::

    >>> from cnnviz.methods.capsules import squash, dynamic_routing
    >>> v, c = dynamic_routing(torch.randn(1, 6, 3, 4), iterations=3)
"""
from cnnviz.core.capsnet import CapsNet, RoutingStep, capsule_lengths, dynamic_routing, routing_steps, squash
from cnnviz.methods.capsules.losses import M_MINUS, M_PLUS, capsnet_loss, margin_loss, reconstruction_loss
from cnnviz.methods.capsules.readout import (
    PERTURBATION,
    CapsuleReadout,
    NotACapsNetError,
    as_capsnet,
    dimension_sweep,
    perturb_decode,
    read_capsules,
)
from cnnviz.methods.capsules.robustness import (
    DISTORTIONS,
    DistortionError,
    PoolingCritique,
    Robustness,
    distort,
    pooling_critique,
    robustness,
    robustness_all,
)
from cnnviz.methods.capsules.toy import SCENARIOS, ToyRouting, ToySettingsError, toy_predictions, toy_routing

__all__ = [
    "DISTORTIONS", "M_MINUS", "M_PLUS", "PERTURBATION", "SCENARIOS", "CapsNet", "CapsuleReadout", "DistortionError",
    "NotACapsNetError", "PoolingCritique", "Robustness", "RoutingStep", "ToyRouting", "ToySettingsError",
    "as_capsnet", "capsnet_loss", "capsule_lengths", "dimension_sweep", "distort", "dynamic_routing", "margin_loss",
    "pooling_critique", "perturb_decode", "read_capsules", "reconstruction_loss", "robustness", "robustness_all",
    "routing_steps", "squash", "toy_predictions", "toy_routing",
]
