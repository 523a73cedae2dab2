"""Output sizes along one axis: convolution, pooling and transposed convolution, and the rows no window reads.

The rules mirror PyTorch's ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` and ``nn.ConvTranspose2d``
(the same stride/padding/dilation along both axes):

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1                (convolution, pooling)
    out = (n - 1)s - 2p + d(k - 1) + output_padding + 1         (transposed convolution)

Examples::

    >>> conv_output_size(32, 5)
    28
"""
from __future__ import annotations

from cnnviz.errors import CnnvizError

Padding = int | str


class SettingsError(CnnvizError):
    """Layer settings PyTorch would refuse (a stride of 0, a kernel larger than the padded input, ...).

    The message says which setting and what to change; :func:`cnnviz.methods.arithmetic.problems` lists every
    such reason of a whole layer without raising.
    """


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that PyTorch's ``padding='same'`` adds (stride 1 only).

    The total ``d(k-1)`` is split with the extra pixel after, as PyTorch does for even kernels.

    Examples::

        >>> same_padding(3)
        (1, 1)
        >>> same_padding(4)
        (1, 2)
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def resolve_padding(padding: Padding, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """A padding (int, ``'same'`` or ``'valid'``) as ``(before, after)`` pixels.

    Raises:
        SettingsError: a padding word other than ``'same'`` and ``'valid'``.

    Examples::

        >>> resolve_padding("valid", 3), resolve_padding(2, 3), resolve_padding("same", 5, 2)
        ((0, 0), (2, 2), (4, 4))
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return same_padding(kernel, dilation)
        raise SettingsError(f"padding {padding!r} is not understood: use an integer, 'same' or 'valid'")
    return int(padding), int(padding)


def _check_steps(kernel: int, stride: int, dilation: int) -> None:
    if stride < 1:
        raise SettingsError(f"stride must be at least 1, got {stride}: a window that does not move never finishes")
    if dilation < 1:
        raise SettingsError(f"dilation must be at least 1, got {dilation}")
    if kernel < 1:
        raise SettingsError(f"kernel size must be at least 1, got {kernel}")


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``; with ``ceil_mode`` (pooling) the division rounds
    up, but a last window that would start in the right padding is dropped, as in PyTorch.

    Args:
        n: input length (height or width).
        kernel: kernel size ``k``.
        stride: step ``s`` between windows (> 0).
        padding: pixels added on each side, or ``'same'`` (output = input, stride 1 only) or
            ``'valid'`` (no padding).
        dilation: spacing ``d`` between kernel taps (1 = dense kernel).
        ceil_mode: round up instead of down (``MaxPool2d(ceil_mode=True)``).

    Raises:
        SettingsError: (a ValueError) for combinations PyTorch refuses (see
            :func:`cnnviz.methods.arithmetic.problems` for explanations).

    Examples::

        >>> conv_output_size(32, 5)                 # 32x32x3 through 5x5 filters
        28
        >>> conv_output_size(7, 3, stride=2, padding=1)
        4
        >>> conv_output_size(224, 3, padding="same")
        224
    """
    _check_steps(kernel, stride, dilation)
    if padding == "same":
        if stride != 1:
            raise SettingsError("padding='same' needs stride 1 (PyTorch refuses it for strided convolutions); "
                                "use an integer padding such as (k-1)//2 instead")
        return n
    pb, pa = resolve_padding(padding, kernel, dilation)
    if pb < 0:
        raise SettingsError(f"padding must be >= 0, got {pb}")
    span = dilation * (kernel - 1) + 1
    room = n + pb + pa - span
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pb:
        out -= 1
    if out < 1 or (room < 0 and not ceil_mode):
        raise SettingsError(
            f"the kernel ({span} pixels{' with dilation' if dilation > 1 else ''}) is larger than the padded "
            f"input ({n + pb + pa}): it fits nowhere; use a smaller kernel or dilation, or more padding"
        )
    return out


def transposed_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, output_padding: int = 0
) -> int:
    """Output length of a transposed convolution along one axis.

    ``(n - 1)s - 2p + d(k - 1) + output_padding + 1``: the size of the input a convolution with
    the same settings would have mapped onto ``n`` (``output_padding`` picks among several).

    Raises:
        SettingsError: a stride below 1, or a padding that crops the whole output away.

    Examples::

        >>> transposed_output_size(4, 3, stride=2, padding=1, output_padding=1)
        8
        >>> conv_output_size(8, 3, stride=2, padding=1)
        4
    """
    if stride < 1:
        raise SettingsError(f"stride must be at least 1, got {stride}")
    out = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:  # PyTorch returns an empty tensor for 0 and refuses negative sizes
        raise SettingsError(
            f"the output would have {out} pixels: the padding {padding} crops away everything; use less padding"
        )
    return out


def pool_output_size(
    n: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of max/average pooling (stride defaults to the kernel size, as in PyTorch).

    Examples::

        >>> pool_output_size(4, 2)     # the 4x4 max-pooling example: 2x2 windows, stride 2
        2
        >>> pool_output_size(5, 2, ceil_mode=True)
        3
    """
    return conv_output_size(n, kernel, kernel if stride is None else stride, padding, dilation, ceil_mode)


def uncovered(
    n: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1, ceil_mode: bool = False
) -> list[int]:
    """Input indices (0-based) that no kernel tap ever reads along one axis.

    Rows at the end are skipped when the stride does not tile ``n + 2p - d(k-1) - 1``; with
    dilation larger than the stride, rows between the taps are skipped too.

    Examples::

        >>> uncovered(7, 3, stride=3)    # windows at 0-2 and 3-5: row 6 is never read
        [6]
        >>> uncovered(6, 2, stride=2)
        []
    """
    out = conv_output_size(n, kernel, stride, padding, dilation, ceil_mode)
    pb, _ = resolve_padding(padding, kernel, dilation)
    seen = {i * stride + j * dilation - pb for i in range(out) for j in range(kernel)}
    return [i for i in range(n) if i not in seen]
