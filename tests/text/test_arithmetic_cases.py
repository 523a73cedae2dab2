"""cnnviz.text.arithmetic_cases: the special cases' explanations and tables, worked by hand."""
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec
from cnnviz.text.arithmetic_cases import grouped_label, grouped_name, special_cases


def test_special_cases_worked_by_hand():
    cases = {c.key: c for c in special_cases(LayerSpec("conv", 9, 9, 3, 20, kernel=5))}
    assert tuple(cases) == ar.SPECIAL_CASES
    # 3x3 256->256: 9·256·256 + 256; bottleneck: (256·64 + 64) + (9·64·64 + 64) + (64·256 + 256)
    assert "590,080" in cases["1x1"].text and "70,016" in cases["1x1"].text and "8.4×" in cases["1x1"].text
    assert "3×9×9 → **20×9×9**" in cases["1x1"].text and "60 weights (1·1·3·20)" in cases["1x1"].text
    dil = cases["dilated"].table
    assert [r["span D(K−1)+1"] for r in dil] == [3, 5, 7, 9]
    assert [r["output on 9×9"] for r in dil] == ["7×7", "5×5", "3×3", "1×1"]
    assert {r["taps"] for r in dil} == {"3×3 = 9"}
    grouped = cases["grouped"].table  # 3 input channels -> the example uses 32
    assert grouped[0]["weights K·K·C_in/groups·C_out"] == "3·3·32·32 = 9,216"
    assert grouped[3]["weights K·K·C_in/groups·C_out"] == "3·3·1·32 = 288"
    assert grouped[4]["weights K·K·C_in/groups·C_out"] == "288 + 1,024 = 1,312"
    assert "7.0× fewer weights" in cases["grouped"].text  # 9,216 / 1,312
    small = special_cases(LayerSpec("conv", 4, 4, 1, 1, kernel=3))[1].table  # dilation on at least 9×9
    assert [r["output on 9×9"] for r in small] == ["7×7", "5×5", "3×3", "1×1"]


def test_grouped_table_and_labels_follow_the_costs():
    costs = ar.grouped_costs(9, 9, 3)
    table = special_cases(LayerSpec("conv", 9, 9, 3, 20, kernel=5))[2].table
    assert [r["MACs"] for r in table] == [ar.human(c.macs) for c in costs]
    assert [r["layer"] for r in table] == [grouped_name(c) for c in costs] == [
        "standard (groups = 1)", "2 groups", "4 groups", "depthwise (groups = C = 32)",
        "depthwise separable (depthwise 3×3 + 1×1)"]
    assert [grouped_label(c) for c in costs] == ["groups = 1", "groups = 2", "groups = 4", "depthwise (32)",
                                                 "depthwise + 1×1"]
