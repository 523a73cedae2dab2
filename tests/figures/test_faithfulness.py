"""Faithfulness figures: the table shows the leaderboard's numbers and flags, curves match, colour scales are honest."""
import torch

from cnnviz.figures import faithfulness as ff
from cnnviz.figures.export import to_png
from cnnviz.methods.attribution import Attribution
from cnnviz.methods.faithfulness import Curve, Leaderboard, Row


def _lb() -> Leaderboard:
    rows = [Row("gradcam", "Grad-CAM", 0.2, 0.9, 10.0, 20.0, 0.7, True),
            Row("saliency", "Gradient saliency", 0.6, 0.5, 50.0, 0.0, -0.1, False),
            Row("random", "Random map", 0.5, 0.5, 30.0, 0.0, 0.0, None)]
    c = {k: (Curve("deletion", [0, 0.5, 1], [1.0, 0.3 + i / 10, 0.1], 0.2),
             Curve("insertion", [0, 0.5, 1], [0.1, 0.8, 1.0], 0.9)) for i, k in enumerate(["gradcam", "saliency",
                                                                                            "random"])}
    return Leaderboard(rows, 3, "blur", c)


def test_table_cells_flags_and_order():
    lb = _lb()
    cells = ff.leaderboard_rows(lb)
    assert cells[0] == ["1", "Grad-CAM", "0.200", "0.900", "+0.700", "10.0%", "20%", "beats random"]
    assert cells[1][-1] == "does NOT beat random" and cells[2][:2] == ["—", "Random map"]
    fig = ff.leaderboard_table(lb)
    assert list(fig.data[0].cells.fill.color[0]) == [ff.OK, ff.FLAG, "#EEEEEE"]
    assert "this image" in fig.layout.title.text and len(to_png(fig)) > 1000


def test_curves_same_colour_in_both_panels_and_random_dashed():
    fig = ff.curves_figure(_lb(), ["saliency"])
    names = [t.name for t in fig.data]
    assert len(fig.data) == 4 and names[0] == names[1] and "AUC 0.20 / 0.90" in names[0]
    assert fig.data[0].line.color == fig.data[1].line.color and fig.data[2].line.dash == "dash"
    assert list(fig.data[0].y) == [1.0, 0.4, 0.1]


def test_map_grid_signed_on_a_diverging_scale_and_shared_range():
    sal = Attribution("saliency", 0, torch.tensor([[0.0, 1.0], [2.0, 4.0]]))
    occ = Attribution("occlusion", 0, torch.tensor([[-3.0, 1.0], [0.0, 2.0]]))
    per = ff.map_grid({"saliency": sal, "occlusion": occ})
    assert (per.data[0].zmin, per.data[0].zmax) == (0.0, 4.0) and per.data[1].zmid == 0
    assert (per.data[1].zmin, per.data[1].zmax) == (-3.0, 3.0)
    assert per.data[0].colorscale != per.data[1].colorscale and all(t.showscale for t in per.data)
    assert per.data[1].colorbar.title.text == "Occlusion"
    shared = ff.map_grid({"saliency": sal, "occlusion": occ}, shared=True)
    assert {(t.zmin, t.zmax) for t in shared.data} == {(-4.0, 4.0)}  # one scale: the largest |value|
    assert [t.showscale for t in shared.data] == [True, False]  # and one colour bar
    assert ff.value_range({"a": torch.tensor([[1.0, -3.0]])}, True) == (-3.0, 3.0)
