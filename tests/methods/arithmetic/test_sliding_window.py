"""cnnviz.methods.arithmetic.sliding_window: every kernel position's value equals PyTorch's output, the padded
grid worked by hand."""
import pytest
import torch

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


@pytest.mark.parametrize(
    "spec",
    [
        LayerSpec("conv", 6, 7, 1, 1, kernel=3),
        LayerSpec("conv", 7, 6, 1, 1, kernel=3, stride=2, padding=1),
        LayerSpec("conv", 8, 8, 1, 1, kernel=3, dilation=2, padding="same"),
        LayerSpec("conv", 6, 6, 1, 1, kernel=4, padding="same"),
        LayerSpec("maxpool", 7, 7, 1, 1, kernel=3, stride=2, padding=1, ceil_mode=True),
        LayerSpec("maxpool", 6, 5, 1, 1, kernel=2, stride=2, dilation=2),
        LayerSpec("avgpool", 7, 7, 1, 1, kernel=3, stride=2, padding=1, ceil_mode=True),
        LayerSpec("avgpool", 5, 5, 1, 1, kernel=2, stride=2, ceil_mode=True),
        LayerSpec("transposed", 4, 3, 1, 1, kernel=3, stride=2, padding=1, output_padding=1),
        LayerSpec("transposed", 3, 3, 1, 1, kernel=3, stride=1, padding=2),
        LayerSpec("transposed", 3, 4, 1, 1, kernel=2, stride=3, dilation=2),
    ],
    ids=lambda s: f"{s.mode}-k{s.kernel}s{s.stride}p{s.padding}d{s.dilation}",
)
def test_sliding_window_steps_equal_pytorch(spec):
    torch.manual_seed(1)
    x = torch.randint(0, 10, (spec.height, spec.width)).double()
    w = torch.randint(-2, 3, (spec.kernel, spec.kernel)).double()
    b = 1.0
    steps = ar.sliding_windows(x, None if spec.is_pool else w, b, spec)
    mod = spec.torch_module().double()
    if not spec.is_pool:
        with torch.no_grad():
            mod.weight.copy_(w.view(1, 1, spec.kernel, spec.kernel))
            mod.bias.fill_(b)
    with torch.no_grad():
        want = mod(x[None, None])[0, 0]
    assert len(steps) == want.numel()
    got = torch.tensor([s.value for s in steps], dtype=torch.float64).view_as(want)
    torch.testing.assert_close(got, want)


def test_sliding_window_hand_worked_and_padding_drawn():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    w = torch.ones(2, 2)
    spec = LayerSpec("conv", 3, 3, 1, 1, kernel=2, padding=1)
    grid = ar.padded_grid(x, spec)
    assert grid.values.shape == (5, 5)
    assert grid.kind[0].tolist() == [ar.CELL_PAD] * 5 and grid.kind[2, 2] == ar.CELL_INPUT
    assert grid.origin_row.tolist() == [-1, 0, 1, 2, -1]
    steps = ar.sliding_windows(x, w, 0.5, spec)
    assert steps[0].value == 1.5  # only x[0,0] under the kernel + bias
    assert (steps[5].out_row, steps[5].out_col) == (1, 1)
    assert steps[5].value == 1 + 2 + 4 + 5 + 0.5
    assert steps[5].xs == (1.0, 2.0, 4.0, 5.0) and steps[5].ws == (1.0, 1.0, 1.0, 1.0)
    # 4x4 max pooling example
    x4 = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    steps = ar.sliding_windows(x4, None, 0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))
    assert [s.value for s in steps] == [6, 8, 3, 4]
    assert steps[0].ws == ()


def test_max_pool_padding_reads_minus_infinity_and_ceil_mode_hangs_over():
    grid = ar.padded_grid(torch.ones(5, 5), LayerSpec("maxpool", 5, 5, 1, 1, kernel=2, stride=2, ceil_mode=True))
    # windows at 0, 2, 4: the last one reads cell 5, past the 5 input cells
    assert grid.kind[0].tolist() == [ar.CELL_INPUT] * 5 + [ar.CELL_OVERHANG]
    assert grid.values[0, 5] == float("-inf")
    padded = ar.padded_grid(torch.ones(3, 3), LayerSpec("maxpool", 3, 3, 1, 1, kernel=3, stride=1, padding=1))
    assert padded.values[0, 0] == float("-inf") and padded.values[1, 1] == 1


def test_transposed_grid_inserts_zeros():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    grid = ar.padded_grid(x, LayerSpec("transposed", 2, 2, 1, 1, kernel=3, stride=2, padding=0))
    # 2 pixels + 1 inserted zero + 2 pad each side = 7
    assert grid.values.shape == (7, 7)
    assert grid.kind[2, 3] == ar.CELL_INSERTED and grid.values[2, 4] == 2
    assert grid.kind[0, 3] == ar.CELL_PAD  # a padding row stays padding where it crosses an inserted column
