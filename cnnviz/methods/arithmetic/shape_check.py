"""The layer run in PyTorch itself: its output shape next to the formula's, on random data or, for a layer too
large to compute here, on PyTorch's ``meta`` device (shape rules only).

Examples::

    >>> from cnnviz.methods.arithmetic.layer_spec import LayerSpec
    >>> check_shape(LayerSpec("conv", 32, 32, 3, 20, kernel=5)).agrees
    True
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnviz.methods.arithmetic.layer_spec import LayerSpec, problems
from cnnviz.methods.arithmetic.sizes import SettingsError


def pytorch_check(spec: LayerSpec, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Run the matching PyTorch module; return ``(pytorch_output_shape, formula_output_shape)`` with batch.

    Raises:
        SettingsError: if the spec is invalid (every reason from :func:`problems`, joined).

    Examples::

        >>> pytorch_check(LayerSpec("conv", 32, 32, 3, 20, kernel=5))
        ((1, 20, 28, 28), (1, 20, 28, 28))
    """
    probs = problems(spec)
    if probs:
        raise SettingsError("; ".join(p.message for p in probs))
    mod = spec.torch_module()
    x = torch.randn(batch, spec.in_channels, spec.height, spec.width)
    with torch.no_grad():
        y = mod(x)
    return tuple(y.shape), (batch, *spec.output_shape())


@dataclass(frozen=True)
class ShapeCheck:
    """PyTorch's output shape next to the formula's, and where PyTorch ran (``"cpu"`` or ``"meta"``)."""

    pytorch: tuple[int, ...]
    formula: tuple[int, ...]
    device: str

    @property
    def agrees(self) -> bool:
        return self.pytorch == self.formula


def check_shape(spec: LayerSpec, max_work: float = 3e8, max_input: float = 5e6) -> ShapeCheck:
    """Run the layer in PyTorch on random data, or on the meta device (shape rules only) when it is large.

    Args:
        spec: a valid layer.
        max_work: MACs (or pooling operations) above which the layer runs on the meta device.
        max_input: input values above which it does.

    Examples::

        >>> check_shape(LayerSpec("conv", 32, 32, 3, 20, kernel=5)).pytorch
        (1, 20, 28, 28)
    """
    s = spec
    if s.macs() + s.pool_ops() > max_work or s.in_channels * s.height * s.width > max_input:
        with torch.no_grad():
            y = s.torch_module().to("meta")(torch.empty(1, s.in_channels, s.height, s.width, device="meta"))
        return ShapeCheck(tuple(y.shape), (1, *s.output_shape()), "meta")
    got, formula = pytorch_check(s)
    return ShapeCheck(got, formula, "cpu")
