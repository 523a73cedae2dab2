"""cnnviz.methods.arithmetic.sizes: output sizes and unread rows, worked by hand and checked against PyTorch's
gradient."""
import random
from dataclasses import replace

import pytest
import torch

import cnnviz
from cnnviz.errors import CnnvizError
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec, SettingsError
from tests.methods.arithmetic.specs import random_spec


@pytest.mark.parametrize("args, expected", [
    ((7, 3), 5), ((7, 3, 2), 3), ((7, 3, 2, 1), 4), ((5, 3, 1, "same"), 5), ((5, 3, 1, "valid"), 3),
    ((10, 3, 1, 0, 2), 6), ((224, 7, 2, 3), 112), ((5, 2, 2, 0, 1, True), 3), ((6, 3, 3, 0, 1, True), 2),
])
def test_conv_output_size_by_hand(args, expected):
    assert ar.conv_output_size(*args) == expected


def test_the_package_keeps_its_dotted_paths():
    assert cnnviz.conv_output_size(32, 5) == 28  # the top-level name is this module's
    assert ar.sizes.conv_output_size is ar.conv_output_size


def test_transposed_and_pool_sizes_by_hand():
    assert ar.transposed_output_size(4, 3, 2, 1, 1, 1) == 8   # (4-1)*2 - 2 + 2 + 1 + 1
    assert ar.transposed_output_size(2, 2, 2) == 4
    assert ar.pool_output_size(4, 2) == 2  # 4x4 max pooling, 2x2 windows: 2x2
    assert ar.pool_output_size(28, 2) == 14


def test_same_padding_and_errors_say_the_fix():
    assert ar.same_padding(4) == (1, 2)
    assert ar.resolve_padding("same", 5, 2) == (4, 4) and ar.resolve_padding("valid", 3) == (0, 0)
    with pytest.raises(ValueError, match="stride 1"):
        ar.conv_output_size(8, 3, 2, "same")
    with pytest.raises(ValueError, match="larger than the padded input"):
        ar.conv_output_size(3, 5)
    with pytest.raises(ValueError, match="at least 1"):
        ar.conv_output_size(8, 3, 0)
    # every refusal is a CnnvizError (which pages show as a message) and still a ValueError
    for call in (lambda: ar.conv_output_size(3, 5), lambda: ar.resolve_padding("full", 3),
                 lambda: ar.transposed_output_size(1, 1, 1, 2)):
        with pytest.raises(SettingsError) as err:
            call()
        assert isinstance(err.value, CnnvizError) and isinstance(err.value, ValueError)


def test_uncovered_rows_by_hand():
    assert ar.uncovered(7, 3, 3) == [6]            # windows 0-2, 3-5
    assert ar.uncovered(8, 3, 3) == [6, 7]
    assert ar.uncovered(6, 2, 2) == []
    assert ar.uncovered(7, 3, 2, 1) == []           # padded 9: windows -1..1, 1..3, 3..5, 5..7
    assert ar.uncovered(9, 1, 1, 0, 1) == []
    assert ar.uncovered(5, 1, 2) == [1, 3]          # 1x1 stride 2 skips every other row
    rows, cols = LayerSpec("conv", 7, 8, 1, 1, kernel=3, stride=3).uncovered()
    assert rows == [6] and cols == [6, 7]


def test_uncovered_matches_gradient_of_pytorch_conv(single_thread):
    """A second method: an input pixel is read iff the gradient of the output sum reaches it."""
    rng = random.Random(7)
    checked = 0
    while checked < 300:
        spec = replace(random_spec(rng, "conv"), in_channels=1, out_channels=1, groups=1)
        if spec.problems():
            continue
        x = torch.ones(1, 1, spec.height, spec.width, requires_grad=True)
        conv = spec.torch_module()
        with torch.no_grad():
            conv.weight.fill_(1.0)
        (g,) = torch.autograd.grad(conv(x).sum(), x)
        rows, cols = spec.uncovered()
        read = torch.ones(spec.height, spec.width, dtype=torch.bool)
        read[rows, :] = False
        read[:, cols] = False
        assert torch.equal(read, g[0, 0] != 0), spec
        checked += 1
