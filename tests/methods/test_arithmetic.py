"""Convolution arithmetic against hand-worked values and against PyTorch itself."""
import random
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz
from cnnviz.core import zoo as zoo
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


# ----------------------------------------------------------------------------- hand-worked
def test_lecture_example_32x32x3_twenty_5x5_filters():
    s = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    assert s.output_shape() == (20, 28, 28)
    assert s.params() == ar.ParamCount(weights=5 * 5 * 3 * 20, biases=20)
    assert s.params().total == 1520
    assert s.macs() == 28 * 28 * 20 * 75
    assert cnnviz.conv_output_size(32, 5) == 28
    # one 3x3x3 filter on 32x32x3: 30x30x1
    assert LayerSpec("conv", 32, 32, 3, 1, kernel=3).output_shape() == (1, 30, 30)


@pytest.mark.parametrize("args, expected", [
    ((7, 3), 5), ((7, 3, 2), 3), ((7, 3, 2, 1), 4), ((5, 3, 1, "same"), 5), ((5, 3, 1, "valid"), 3),
    ((10, 3, 1, 0, 2), 6), ((224, 7, 2, 3), 112), ((5, 2, 2, 0, 1, True), 3), ((6, 3, 3, 0, 1, True), 2),
])
def test_conv_output_size_by_hand(args, expected):
    assert ar.conv_output_size(*args) == expected


def test_transposed_and_pool_sizes_by_hand():
    assert ar.transposed_output_size(4, 3, 2, 1, 1, 1) == 8   # (4-1)*2 - 2 + 2 + 1 + 1
    assert ar.transposed_output_size(2, 2, 2) == 4
    assert ar.pool_output_size(4, 2) == 2  # 4x4 max pooling, 2x2 windows: 2x2
    assert ar.pool_output_size(28, 2) == 14


def test_same_padding_and_errors_say_the_fix():
    assert ar.same_padding(4) == (1, 2)
    with pytest.raises(ValueError, match="stride 1"):
        ar.conv_output_size(8, 3, 2, "same")
    with pytest.raises(ValueError, match="larger than the padded input"):
        ar.conv_output_size(3, 5)
    with pytest.raises(ValueError, match="at least 1"):
        ar.conv_output_size(8, 3, 0)


def test_uncovered_rows_by_hand():
    assert ar.uncovered(7, 3, 3) == [6]            # windows 0-2, 3-5
    assert ar.uncovered(8, 3, 3) == [6, 7]
    assert ar.uncovered(6, 2, 2) == []
    assert ar.uncovered(7, 3, 2, 1) == []           # padded 9: windows -1..1, 1..3, 3..5, 5..7
    assert ar.uncovered(9, 1, 1, 0, 1) == []
    assert ar.uncovered(5, 1, 2) == [1, 3]          # 1x1 stride 2 skips every other row
    assert ar.describe_indices([0, 1, 2, 7]) == "0–2, 7"
    rows, cols = LayerSpec("conv", 7, 8, 1, 1, kernel=3, stride=3).uncovered()
    assert rows == [6] and cols == [6, 7]


def test_params_and_macs_by_hand():
    assert ar.conv_params(32, 64, 3, groups=1).total == 3 * 3 * 32 * 64 + 64
    dw = ar.conv_params(32, 32, 3, groups=32, bias=False)
    assert dw.weights == 288 and dw.biases == 0
    assert ar.transposed_params(16, 8, 4, groups=2).weights == 16 * 4 * 16
    assert ar.linear_params(400, 120).total == 48120
    assert LayerSpec("conv", 14, 14, 6, 16, kernel=5).macs() == 10 * 10 * 16 * 6 * 25  # LeNet conv2: 240,000
    assert LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2).pool_ops() == 4 * 3
    assert LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2).params().total == 0


def test_problems_explain_invalid_combinations():
    def fields(**kw):
        return [p.field for p in LayerSpec(**kw).problems()]

    assert fields(mode="conv", height=5, width=5, kernel=7) == ["kernel"]
    assert fields(mode="conv", in_channels=3, out_channels=5, groups=2) == ["groups", "groups"]
    assert fields(mode="conv", stride=0) == ["stride"]
    assert fields(mode="conv", stride=2, padding="same") == ["padding"]
    assert fields(mode="maxpool", kernel=2, padding=2) == ["padding"]
    assert fields(mode="transposed", stride=2, output_padding=2) == ["output_padding"]
    assert fields(mode="conv") == []
    msg = LayerSpec("conv", in_channels=3, groups=2).problems()[0].message
    assert "divide" in msg and "3/2" in msg


# ----------------------------------------------------------------------------- against PyTorch
def _torch_outcome(spec: LayerSpec):
    """PyTorch's output shape for the spec, or None when PyTorch refuses it (or returns an empty map)."""
    x = torch.zeros(1, spec.in_channels, spec.height, spec.width)
    try:
        with torch.no_grad():
            y = spec.torch_module()(x)
    except (RuntimeError, ValueError):
        return None
    return tuple(y.shape[1:]) if y.numel() else None


def _random_spec(rng: random.Random, mode: str) -> LayerSpec:
    groups = rng.choice([1, 1, 1, 2, 3])
    cin = rng.choice([1, 2, 3, 4, 6])
    cout = rng.choice([1, 2, 3, 4, 6])
    pad = rng.choice([0, 0, 1, 2, 3, "same", "valid"]) if mode == "conv" else rng.choice([0, 0, 1, 2, 3])
    return LayerSpec(mode, rng.randint(1, 12), rng.randint(1, 12), cin, cout, kernel=rng.randint(1, 6),
                     stride=rng.choice([0, 1, 1, 2, 3, 4]) if mode == "conv" else rng.randint(1, 4),
                     padding=pad, dilation=rng.choice([1, 1, 2, 3]) if mode != "avgpool" else 1, groups=groups,
                     output_padding=rng.choice([0, 0, 1, 2]) if mode == "transposed" else 0,
                     ceil_mode=rng.random() < 0.4 if mode in ("maxpool", "avgpool") else False)


@pytest.mark.parametrize("mode, count", [("conv", 5000), ("transposed", 2000), ("maxpool", 2000), ("avgpool", 2000)])
def test_formula_and_validity_match_pytorch_over_sweep(mode, count, single_thread):
    """Thousands of random combinations: valid per :func:`problems` exactly when PyTorch accepts,
    and then the formula's shape equals PyTorch's."""
    torch.manual_seed(0)
    _sweep(random.Random(MODES_SEED[mode]), mode, count)


MODES_SEED = {"conv": 1, "transposed": 2, "maxpool": 3, "avgpool": 4}


def _sweep(rng: random.Random, mode: str, count: int) -> None:
    valid = 0
    for _ in range(count):
        spec = _random_spec(rng, mode)
        got = _torch_outcome(spec)
        probs = spec.problems()
        assert (got is not None) == (not probs), (spec, probs, got)
        if got is not None:
            valid += 1
            assert spec.output_shape() == got, spec
            if mode in ("conv", "transposed"):
                assert spec.params().total == sum(p.numel() for p in spec.torch_module().parameters()), spec
    assert valid > count // 4, "the sweep should mostly test valid combinations"


@pytest.fixture
def single_thread():
    """Tiny tensors: thread start-up would dominate (and the test machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_uncovered_matches_gradient_of_pytorch_conv(single_thread):
    """A second method: an input pixel is read iff the gradient of the output sum reaches it."""
    rng = random.Random(7)
    checked = 0
    while checked < 300:
        spec = replace(_random_spec(rng, "conv"), in_channels=1, out_channels=1, groups=1)
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


def test_pytorch_check_agrees():
    got, formula = ar.pytorch_check(LayerSpec("conv", 32, 32, 3, 20, kernel=5))
    assert got == formula == (1, 20, 28, 28)


def _zoo_module(name: str) -> nn.Module:
    with torch.device("meta"):
        return zoo.finish_zoo_module(name, zoo.build_zoo_module(name, for_weights=False))


def _formula_params(module: nn.Module) -> int:
    total = 0
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            total += ar.conv_params(m.in_channels, m.out_channels, m.kernel_size[0], m.groups, m.bias is not None).total
            assert m.kernel_size[0] == m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += ar.linear_params(m.in_features, m.out_features, m.bias is not None).total
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            total += 2 * m.weight.numel()  # scale and shift per channel
    return total


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_param_formula_matches_every_zoo_model(name):
    module = _zoo_module(name)
    assert _formula_params(module) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(zoo.BUNDLED))
def test_param_formula_matches_bundled_models(name, request):
    m = request.getfixturevalue("lenet" if name.startswith("lenet") else "small_vgg")
    assert _formula_params(m.module) == m.num_parameters
    if name.startswith("lenet"):
        assert m.num_parameters == 156 + 2416 + 48120 + 10164 + 850  # worked out layer by layer


# ----------------------------------------------------------------------------- sliding window
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
    steps = ar.sliding_windows(x, w, 0.5, spec)
    assert steps[0].value == 1.5  # only x[0,0] under the kernel + bias
    assert (steps[5].out_row, steps[5].out_col) == (1, 1)
    assert steps[5].value == 1 + 2 + 4 + 5 + 0.5
    assert ar.format_dot_product(steps[5], 0.5) == "1·1 + 1·2 + 1·4 + 1·5 + 0.5 = 12.5"
    assert ar.format_dot_product(steps[5], 0.5, per_line=2) == "1·1 + 1·2 +\n1·4 + 1·5 + 0.5 = 12.5"
    # 4x4 max pooling example
    x4 = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    steps = ar.sliding_windows(x4, None, 0, LayerSpec("maxpool", 4, 4, 1, 1, kernel=2, stride=2))
    assert [s.value for s in steps] == [6, 8, 3, 4]


def test_transposed_grid_inserts_zeros():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    grid = ar.padded_grid(x, LayerSpec("transposed", 2, 2, 1, 1, kernel=3, stride=2, padding=0))
    # 2 pixels + 1 inserted zero + 2 pad each side = 7
    assert grid.values.shape == (7, 7)
    assert grid.kind[2, 3] == ar.CELL_INSERTED and grid.values[2, 4] == 2
    assert grid.kind[0, 3] == ar.CELL_PAD  # a padding row stays padding where it crosses an inserted column


# ----------------------------------------------------------------------------- im2col
def test_im2col_hand_worked():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    cols = ar.im2col(x, 2)
    # first column: patch at (0,0) = [0,1,3,4]; last: patch at (1,1) = [4,5,7,8]
    assert cols[0, :, 0].tolist() == [0, 1, 3, 4] and cols[0, :, 3].tolist() == [4, 5, 7, 8]
    torch.testing.assert_close(cols, F.unfold(x, 2))


@pytest.mark.parametrize(
    "k, s, p, d, g",
    [
        (3, 1, 0, 1, 1),
        (3, 2, 1, 1, 1),
        (5, 1, "same", 1, 1),
        (3, 1, 2, 2, 2),
        (1, 1, 0, 1, 4),
        (4, 3, 1, 1, 1),
        (2, 1, "same", 1, 1),
    ],
)
def test_im2col_convolution_equals_conv2d(k, s, p, d, g):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    w = torch.randn(8, 4 // g, k, k, dtype=torch.float64)
    b = torch.randn(8, dtype=torch.float64)
    want = F.conv2d(x, w, b, s, p, d, g)
    got = ar.conv2d_im2col(x, w, b, s, p, d, g)
    torch.testing.assert_close(got, want)


# ----------------------------------------------------------------------------- quiz
def test_parse_and_evaluate_stack():
    rows = ar.evaluate_stack(
        (3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k3 f40 p1; conv k3 f40 s2 psame")
    )
    assert [r.output_shape for r in rows[:3]] == [(20, 28, 28), (20, 14, 14), (40, 14, 14)]
    assert rows[0].params == 1520 and rows[1].params == 0
    assert rows[3].output_shape is None and rows[3].problems[0].field == "padding"
    with pytest.raises(ValueError, match="unknown kind"):
        ar.parse_stack("dense k3")
    with pytest.raises(ValueError, match="filters"):
        ar.parse_stack("conv k3")
    with pytest.raises(ValueError, match="cannot read"):
        ar.parse_stack("conv k3 f2 x9")


# ----------------------------------------------------------------------------- the page's worked examples
def test_parse_matrix_and_demo_kernel_explain_bad_input():
    assert ar.parse_matrix("1 2; 3,4").tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ar.MatrixError, match="cannot be read.*rows separated by ';'"):
        ar.parse_matrix("1 2; 3")
    with pytest.raises(cnnviz.errors.CnnvizError, match="cannot be read"):
        ar.parse_matrix("1 x")
    with pytest.raises(ar.MatrixError, match="2×2, but K = 3"):
        ar.demo_kernel("custom", 3, "1 0; 0 1")
    assert ar.demo_kernel("custom", 2, ar.identity_kernel_text(2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ar.demo_kernel("edge", 3).tolist() == [[-1, 0, 1]] * 3
    assert ar.demo_kernel("ones", 2).sum() == 4


def test_demo_layer_with_typed_input_equals_pytorch():
    spec = LayerSpec("conv", 4, 4, 1, 1, kernel=2)
    demo = ar.demo_layer(spec, "custom", input_text="1 2 3; 4 5 6; 7 8 9", kernel_kind="ones")
    assert demo.ok and demo.spec.height == 3 and "3×3" in demo.note
    got = [s.value for s in ar.sliding_windows(demo.x, demo.weight, 1.0, demo.spec)]
    assert got[0] == 1 + 2 + 4 + 5 + 1  # worked by hand
    want = F.conv2d(demo.x[None, None], demo.weight[None, None], torch.tensor([1.0], dtype=torch.float64))
    assert got == want.flatten().tolist()
    bad = ar.demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=3), "custom", input_text="1 2; 3 4")
    assert not bad.ok and "does not fit" in str(bad.errors[0])
    digit = ar.demo_layer(LayerSpec("conv", 100, 20, 1, 1, kernel=3), "digit", digit=7)
    assert tuple(digit.x.shape) == (64, 20)  # capped at DEMO_MAX_SIDE
    assert digit.x.min() >= 0 and digit.x.max() == 9 and torch.equal(digit.x, digit.x.round())


def test_formula_text_has_the_numbers_worked_by_hand():
    lecture = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    assert r"\mathbf{28}" in ar.size_latex(lecture)
    weights, biases, macs = ar.cost_latex(lecture)
    assert weights.endswith("= 1,500") and "1{,}520" in biases
    assert "1{,}176{,}000" in macs  # 28·28·20·5·5·3
    tconv = LayerSpec("transposed", 4, 4, 1, 1, kernel=3, stride=2, padding=1, output_padding=1)
    assert r"(4-1)\cdot2" in ar.size_latex(tconv) and r"\mathbf{8}" in ar.size_latex(tconv)
    assert len(ar.size_formulas(LayerSpec("conv", 8, 6, 1, 1, kernel=3))) == 2
    pool = LayerSpec("maxpool", 8, 8, 4, 4, kernel=2, stride=2)
    assert len(ar.cost_latex(pool)) == 1 and ar.cost_latex(pool)[0].endswith("= 192")  # C·4·4 outputs·(2·2−1)
    assert [v for _, v, _ in ar.headline(pool)] == ["4 × 4 × 4", "0", "0", "64", "256"]
    same = LayerSpec("conv", 10, 10, 1, 1, kernel=4, padding="same")
    assert "1 before and 2 after" in ar.size_notes(same)[0]


def test_coverage_note_names_the_rows_and_the_remainder():
    note = ar.coverage_note(LayerSpec("conv", 8, 8, 1, 1, kernel=3, stride=3))
    # windows start at 0 and 3 and read rows 0..5; 8 - 3 = 5 leaves remainder 2 modulo the stride 3
    assert "rows 6–7" in note and "columns 6–7" in note and "remainder of 2" in note
    assert ar.coverage_note(LayerSpec("conv", 7, 7, 1, 1, kernel=3, stride=2)) is None


def test_check_shape_runs_on_meta_for_huge_layers_and_its_code_prints_the_shape(capsys):
    huge = LayerSpec("conv", 224, 224, 512, 512, kernel=3, padding=1)
    check = ar.check_shape(huge)
    assert check.device == "meta" and check.pytorch == (1, 512, 224, 224) and check.agrees
    small = LayerSpec("conv", 9, 7, 2, 4, kernel=3, stride=2, groups=2)
    check = ar.check_shape(small)
    assert check.device == "cpu" and "equals the formula's **4 × 4 × 3**" in check.summary()
    exec(ar.check_code(small, check), {})
    printed = capsys.readouterr().out.split("\n")
    assert printed[0] == "torch.Size([1, 4, 4, 3])"
    assert int(printed[1]) == sum(p.numel() for p in nn.Conv2d(2, 4, 3, groups=2).parameters())


def test_special_cases_worked_by_hand():
    cases = {c.key: c for c in ar.special_cases(LayerSpec("conv", 9, 9, 3, 20, kernel=5))}
    # 3x3 256->256: 9·256·256 + 256; bottleneck: (256·64 + 64) + (9·64·64 + 64) + (64·256 + 256)
    assert "590,080" in cases["1x1"].text and "70,016" in cases["1x1"].text and "8.4×" in cases["1x1"].text
    assert "3×9×9 → **20×9×9**" in cases["1x1"].text
    dil = cases["dilated"].table
    assert [r["span D(K−1)+1"] for r in dil] == [3, 5, 7, 9]
    assert [r["output on 9×9"] for r in dil] == ["7×7", "5×5", "3×3", "1×1"]
    grouped = cases["grouped"].table  # 3 input channels -> the example uses 32
    assert grouped[0]["weights K·K·C_in/groups·C_out"] == "3·3·32·32 = 9,216"
    assert grouped[3]["weights K·K·C_in/groups·C_out"] == "3·3·1·32 = 288"
    assert grouped[4]["weights K·K·C_in/groups·C_out"] == "288 + 1,024 = 1,312"


def test_pool_and_im2col_examples_equal_pytorch():
    ex = ar.pool_example()
    torch.testing.assert_close(ex.y, F.max_pool2d(ex.x[None, None], 2)[0, 0])
    assert ex.windows == ((0, 0), (0, 2), (2, 0), (2, 2))
    x, w = torch.randn(6, 7, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    spec = LayerSpec("conv", 6, 7, 1, 1, kernel=3, stride=2, padding=1, dilation=1)
    im = ar.im2col_example(x, w, 0.25, spec)
    want = F.conv2d(x[None, None], w[None, None], torch.tensor([0.25], dtype=torch.float64), 2, 1)[0, 0]
    torch.testing.assert_close(im.y, want)
    assert im.cols.shape == (9, want.numel()) and im.max_difference < 1e-12
    with pytest.raises(cnnviz.errors.CnnvizError, match="choose the convolution"):
        ar.im2col_example(x, w, 0.0, LayerSpec("maxpool", 6, 7, 1, 1, kernel=2, stride=2))


def test_quiz_shape_question_and_answer():
    assert ar.parse_shape("3×32×32") == (3, 32, 32)
    for bad in ("3x32", "3x0x32", "three"):
        with pytest.raises(ar.StackError, match="C×H×W"):
            ar.parse_shape(bad)
    with pytest.raises(cnnviz.errors.CnnvizError):
        ar.parse_stack("dense k3")
    rows = ar.evaluate_stack((3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k7 f2 s1; conv k9 f2"))
    assert ar.quiz_answer(rows[0]).startswith("### 20×28×28\n(28 = ⌊(32 + 2·0 − 5) / 1⌋ + 1; 1,520 parameters)")
    assert "maxpool" in ar.quiz_question(rows[1]) and "kernel 2, stride 2" in ar.quiz_question(rows[1])
    assert ar.quiz_answer(rows[2]).startswith("### 2×8×8")
    assert "larger than the padded input" in ar.quiz_answer(rows[3])


def test_layer_from_controls_drops_what_a_mode_lacks():
    pool = ar.layer_from_controls("maxpool", 8, 8, 3, 20, 2, 2, 0, 1, 4, 1, True)
    assert (pool.out_channels, pool.groups, pool.output_padding, pool.ceil_mode) == (3, 1, 0, True)
    conv = ar.layer_from_controls("conv", 8, 8, 4, 8, 3, 1, 1, 1, 2, 1, True)
    assert (conv.groups, conv.output_padding, conv.ceil_mode) == (2, 0, False)
    for values in ar.PRESETS.values():
        assert not LayerSpec(**values).problems()


def test_grouped_costs_match_the_special_case_table_and_pytorch():
    costs = ar.grouped_costs(9, 9, 3)  # 3 channels: the example uses 32
    table = ar.special_cases(LayerSpec("conv", 9, 9, 3, 20, kernel=5))[2].table
    assert [c.weights for c in costs] == [9216, 4608, 2304, 288, 1312]
    assert [r["MACs"] for r in table] == [ar.human(c.macs) for c in costs]
    for c, g in zip(costs, (1, 2, 4, 32)):
        conv = torch.nn.Conv2d(32, 32, 3, padding=1, groups=g, bias=False)
        assert c.weights == conv.weight.numel()


def test_default_case_follows_the_layer():
    assert ar.default_case(LayerSpec("conv", 28, 28, 64, 16, kernel=1)) == "1x1"
    assert ar.default_case(LayerSpec("conv", 32, 32, 64, 64, kernel=3, padding=1, groups=64)) == "grouped"
    assert ar.default_case(LayerSpec("conv", 32, 32, 3, 20, kernel=3, dilation=2)) == "dilated"
    assert ar.default_case(LayerSpec("maxpool", 32, 32, 3, 3, kernel=2, stride=2)) == "pool"
    assert ar.default_case(LayerSpec()) == "1x1"
