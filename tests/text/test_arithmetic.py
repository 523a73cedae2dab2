"""cnnviz.text.arithmetic: the words and formulas of /arithmetic carry the numbers worked out by hand."""
import torch
from torch import nn

from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec
from cnnviz.text import arithmetic as txt


def test_formula_text_has_the_numbers_worked_by_hand():
    lecture = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    assert r"\mathbf{28}" in txt.size_latex(lecture)
    assert r"\frac{32 + 2\cdot0 - 1\cdot(5-1) - 1}{1}" in txt.size_latex(lecture)
    weights, biases, macs = txt.cost_latex(lecture)
    assert weights.endswith("= 1,500") and "1{,}520" in biases
    assert "1{,}176{,}000" in macs  # 28·28·20·5·5·3
    tconv = LayerSpec("transposed", 4, 4, 1, 1, kernel=3, stride=2, padding=1, output_padding=1)
    assert r"(4-1)\cdot2" in txt.size_latex(tconv) and r"\mathbf{8}" in txt.size_latex(tconv)
    assert len(txt.size_formulas(LayerSpec("conv", 8, 6, 1, 1, kernel=3))) == 2
    pool = LayerSpec("maxpool", 8, 8, 4, 4, kernel=2, stride=2)
    assert len(txt.cost_latex(pool)) == 1 and txt.cost_latex(pool)[0].endswith("= 192")  # C·4·4 outputs·(2·2−1)
    assert [v for _, v, _ in txt.headline(pool)] == ["4 × 4 × 4", "0", "0", "64", "256"]
    same = LayerSpec("conv", 10, 10, 1, 1, kernel=4, padding="same")
    assert "1 before and 2 after" in txt.size_notes(same)[0]
    assert r"(1+2)" in txt.size_latex(same)  # the uneven 'same' split, in the formula
    ceil = LayerSpec("maxpool", 5, 5, 1, 1, kernel=2, stride=2, ceil_mode=True)
    assert r"\left\lceil" in txt.size_latex(ceil) and "ceil_mode rounds up" in txt.size_notes(ceil)[0]


def test_coverage_note_names_the_rows_and_the_remainder():
    note = txt.coverage_note(LayerSpec("conv", 8, 8, 1, 1, kernel=3, stride=3))
    # windows start at 0 and 3 and read rows 0..5; 8 - 3 = 5 leaves remainder 2 modulo the stride 3
    assert "rows 6–7" in note and "columns 6–7" in note and "remainder of 2" in note
    assert txt.coverage_note(LayerSpec("conv", 7, 7, 1, 1, kernel=3, stride=2)) is None
    assert txt.describe_indices([0, 1, 2, 7]) == "0–2, 7"
    assert txt.describe_indices([4]) == "4" and txt.describe_indices([]) == ""


def test_dot_product_in_words():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    steps = ar.sliding_windows(x, torch.ones(2, 2), 0.5, LayerSpec("conv", 3, 3, 1, 1, kernel=2, padding=1))
    assert txt.format_dot_product(steps[5], 0.5) == "1·1 + 1·2 + 1·4 + 1·5 + 0.5 = 12.5"
    assert txt.format_dot_product(steps[5], 0.5, per_line=2) == "1·1 + 1·2 +\n1·4 + 1·5 + 0.5 = 12.5"
    step = ar.WindowStep(0, 0, (0, 0), (0, 1), (3.0, 5.0), (1.0, -1.0), -1.0)
    assert txt.format_dot_product(step, 1.0) == "1·3 + (−1)·5 + 1 = −1"
    pooled = ar.sliding_windows(x, None, 0.0, LayerSpec("maxpool", 3, 3, 1, 1, kernel=2, stride=1, padding=1))
    assert txt.format_dot_product(pooled[0], 0.0, "maxpool") == "max(−∞, −∞, −∞, 1) = 1"
    avg = ar.sliding_windows(x, None, 0.0, LayerSpec("avgpool", 3, 3, 1, 1, kernel=3, stride=1))
    assert txt.format_dot_product(avg[0], 0.0, "avgpool", max_terms=4) == "mean(1, 2, 3, …) = 5"
    big = ar.sliding_windows(torch.ones(5, 5), torch.ones(5, 5), 0.0, LayerSpec("conv", 5, 5, 1, 1, kernel=5))
    assert txt.format_dot_product(big[0], 0.0).endswith("1·1 + … (25 products) + 0 = 25")


def test_shape_check_in_words_and_its_code_prints_the_shape(capsys):
    small = LayerSpec("conv", 9, 7, 2, 4, kernel=3, stride=2, groups=2)
    check = ar.check_shape(small)
    assert "equals the formula's **4 × 4 × 3**" in txt.shape_check_summary(check)
    exec(txt.check_code(small, check), {})
    printed = capsys.readouterr().out.split("\n")
    assert printed[0] == "torch.Size([1, 4, 4, 3])"
    assert int(printed[1]) == sum(p.numel() for p in nn.Conv2d(2, 4, 3, groups=2).parameters())
    meta = ar.ShapeCheck((1, 512, 224, 224), (1, 512, 224, 224), "meta")
    assert "'meta' device" in txt.shape_check_summary(meta)
    wrong = ar.ShapeCheck((1, 4, 4, 3), (1, 4, 4, 2), "cpu")
    assert txt.shape_check_summary(wrong).startswith("Mismatch: PyTorch gives [1, 4, 4, 3], the formula [1, 4, 4, 2]")


def test_demo_and_animation_notes():
    demo = ar.demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "custom", input_text="1 2 3; 4 5 6; 7 8 9")
    assert "3×3" in txt.demo_note(demo)
    assert txt.demo_note(ar.demo_layer(LayerSpec("conv", 4, 4, 1, 1, kernel=2), "random")) is None
    tconv = LayerSpec("transposed", 4, 4, 1, 1, kernel=3, stride=2, padding=1)
    assert "1 zero(s) inserted" in txt.animation_notes(tconv, 1, 1, 1)
    assert "D(K−1)−P = 1 padding" in txt.animation_notes(tconv, 1, 1, 1)  # 1·(3-1) - 1
    deep = txt.animation_notes(LayerSpec("conv", 8, 8, 8, 6, kernel=3, groups=2), 8, 6, 2)
    assert "all 4 input channels" in deep and "= 36 products" in deep and "each of the 6 filters" in deep
    assert "count_include_pad" in txt.animation_notes(LayerSpec("avgpool", 8, 8, 1, 1, kernel=2, padding=1), 1, 1, 1)


def test_im2col_in_words():
    ex = ar.im2col_example(torch.ones(3, 3), torch.ones(2, 2), 1.0, LayerSpec("conv", 3, 3, 1, 1, kernel=2))
    assert r"_{4\times4}" in txt.im2col_latex(ex) and r"reshape to } 2\times2" in txt.im2col_latex(ex)
    # the lecture layer: W is 20 × (5·5·3), X_cols (5·5·3) × (28·28)
    summary = txt.im2col_summary(ex, LayerSpec("conv", 32, 32, 3, 20, kernel=5))
    assert "largest difference 0" in summary and "W is 20×75, X_cols is 75×784" in summary


def test_quiz_question_and_answer():
    rows = ar.evaluate_stack((3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k7 f2 s1; conv k9 f2"))
    assert txt.quiz_answer(rows[0]).startswith("### 20×28×28\n(28 = ⌊(32 + 2·0 − 5) / 1⌋ + 1; 1,520 parameters)")
    assert "maxpool" in txt.quiz_question(rows[1]) and "kernel 2, stride 2" in txt.quiz_question(rows[1])
    assert txt.quiz_question(rows[0]).endswith(", 20 filters")
    assert txt.quiz_answer(rows[2]).startswith("### 2×8×8")
    assert "larger than the padded input" in txt.quiz_answer(rows[3])
    (tconv,) = ar.evaluate_stack((1, 4, 4), ar.parse_stack("tconv k2 f8 s2"))
    assert txt.quiz_answer(tconv) == "### 8×8×8\n(40 parameters)"  # 1·8·2·2 weights + 8 biases


def test_presets_are_valid_layers_and_labels_cover_the_choices():
    for values in txt.PRESETS.values():
        assert not LayerSpec(**values).problems()
    assert LayerSpec(**txt.PRESETS["Lecture: 32×32×3, twenty 5×5"]).output_shape() == (20, 28, 28)
    assert set(txt.INPUT_SOURCE_LABELS) == set(ar.INPUT_SOURCES)
    assert set(txt.KERNEL_KIND_LABELS) == set(ar.KERNEL_KINDS)
    assert "(the dark rows" in txt.numbers_note(True) and "(the dark rows" not in txt.numbers_note(False)
