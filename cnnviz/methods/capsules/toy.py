"""Routing by agreement on a toy you can see: a few parts, each predicting the pose of a few wholes as a 2-D arrow.

Where the parts' predictions for a whole agree (the arrows point the same way), routing sends the parts to that
whole: its coupling coefficients grow, iteration by iteration, and its output capsule is long. Predictions that
scatter cancel in the sum and lose their parts.

Examples::

    >>> toy = toy_routing("agree", parts=5, wholes=3, spread=10, iterations=3)
    >>> toy.coupling(3).shape, toy.lengths(3).argmax()     # (parts, wholes); whole 0 wins
    ((5, 3), 0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.core.capsnet import RoutingStep, routing_steps
from cnnviz.errors import CnnvizError

SCENARIOS = ("agree", "split", "disagree")
JITTER = 20.0  # degrees: how far a disagreeing prediction strays from its even share of the circle


class ToySettingsError(CnnvizError, ValueError):
    """A toy routing setting out of range."""


@dataclass(frozen=True)
class ToyRouting:
    """The predictions of every part for every whole and each routing iteration.

    Attributes:
        predictions: ``u_hat`` (parts, wholes, 2): part i's prediction of whole j's pose, a 2-D arrow.
        steps: one :class:`RoutingStep` per iteration (batch of one).
        agreeing: for each whole, the parts whose predictions were made to agree on it.
    """

    predictions: np.ndarray
    steps: list[RoutingStep]
    agreeing: list[list[int]]

    @property
    def iterations(self) -> int:
        return len(self.steps)

    def coupling(self, iteration: int) -> np.ndarray:
        """The coupling coefficients ``c`` (parts, wholes) used in iteration ``iteration`` (1-based)."""
        return self.steps[iteration - 1].coupling[0].numpy()

    def outputs(self, iteration: int) -> np.ndarray:
        """The output capsules ``v`` (wholes, 2) after iteration ``iteration``."""
        return self.steps[iteration - 1].outputs[0].numpy()

    def lengths(self, iteration: int) -> np.ndarray:
        return np.linalg.norm(self.outputs(iteration), axis=1)


def _arrow(angle_deg: float, length: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return length * np.array([np.cos(a), np.sin(a)])


def toy_predictions(scenario: str = "agree", parts: int = 5, wholes: int = 3, spread: float = 10.0,
                    length: float = 1.0, seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """Part predictions ``u_hat`` (parts, wholes, 2) and which parts agree on which whole.

    Args:
        scenario: ``"agree"`` (every part predicts whole 0 alike), ``"split"`` (the first half of the parts agree
            on whole 0, the others on whole 1) or ``"disagree"`` (no two parts agree). The parts that do not agree
            on a whole spread their predictions for it around the circle (jittered), so they cancel.
        spread: the agreeing arrows' scatter (standard deviation of their angles, degrees).
        length: every arrow's length.
        seed: the random angles.
    """
    if scenario not in SCENARIOS:
        raise ToySettingsError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    if not (2 <= parts <= 12 and 2 <= wholes <= 6):
        raise ToySettingsError(f"use 2 to 12 parts and 2 to 6 wholes, not {parts} and {wholes}")
    rng = np.random.default_rng(seed)
    u = np.zeros((parts, wholes, 2))
    agreeing: list[list[int]] = [[] for _ in range(wholes)]
    if scenario == "agree":
        agreeing[0] = list(range(parts))
    elif scenario == "split":
        agreeing[0], agreeing[1] = list(range(parts // 2 + parts % 2)), list(range(parts // 2 + parts % 2, parts))
    centres = rng.uniform(0, 360, wholes)  # the pose the agreeing parts predict for each whole
    for j in range(wholes):
        others = [i for i in range(parts) if i not in agreeing[j]]
        # the others point every which way: spread around the circle (in a random order, jittered), so they
        # disagree with each other as well as with the agreeing group
        around = centres[j] + 180 / max(len(others), 1) + 360 * rng.permutation(len(others)) / max(len(others), 1)
        for i in range(parts):
            if i in agreeing[j]:
                angle = centres[j] + rng.normal(0, spread)
            else:
                angle = around[others.index(i)] + rng.uniform(-JITTER, JITTER)
            u[i, j] = _arrow(angle, length)
    return u, agreeing


def toy_routing(scenario: str = "agree", parts: int = 5, wholes: int = 3, spread: float = 10.0,
                iterations: int = 3, length: float = 1.0, seed: int = 0) -> ToyRouting:
    """Route the toy's predictions (see :func:`toy_predictions`) for ``iterations`` iterations, keeping each."""
    if not 1 <= iterations <= 10:
        raise ToySettingsError(f"use 1 to 10 routing iterations, not {iterations}")
    u, agreeing = toy_predictions(scenario, parts, wholes, spread, length, seed)
    steps = routing_steps(torch.tensor(u, dtype=torch.float32)[None], iterations)
    return ToyRouting(u, steps, agreeing)
