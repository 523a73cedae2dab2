"""cnnviz.figures.volumes: the layer drawn as volumes to scale, the quiz's stack, dilation and grouped costs."""
import numpy as np

from cnnviz.figures import arithmetic as fa
from cnnviz.figures import volumes as fv
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def _window_rects(fig):
    return [s for s in fig.layout.shapes if s.type == "rect" and s.line.color == fa.WINDOW_COLOR]


def test_layer_shape_figure_draws_the_lecture_layer_to_scale():
    spec = LayerSpec("conv", 32, 32, 3, 20, kernel=5)
    fig = fv.layer_shape_figure(spec)
    assert fig.layout.meta["output"] == [20, 28, 28]
    # the first window: 5x5 cells at the top-left of the 32x32 face (face from y=-16 to 16)
    assert fig.layout.meta["window"] == [0.0, 11.0, 5.0, 16.0]
    assert fig.layout.meta["unseen"] == [0, 0]
    numbers = fig.layout.annotations[-1].text
    assert "+ 1 = 28" in numbers and "1,520 parameters" in numbers and "1.18 M MACs" in numbers
    labels = " ".join(a.text or "" for a in fig.layout.annotations)
    assert "Input 3 × 32 × 32" in labels and "Output 20 × 28 × 28" in labels and "each 5×5×3" in labels
    # the second window (dashed) one stride to the right, and the output cell it computes
    dashed = [s for s in _window_rects(fig) if s.line.dash == "dash"]
    assert [(s.x0, s.x1) for s in dashed][0] == (1.0, 6.0)


def test_layer_shape_figure_shows_padding_stride_dilation_and_unread_rows():
    padded = fv.layer_shape_figure(LayerSpec("conv", 32, 32, 3, 20, kernel=5, padding=2))
    assert padded.layout.meta["window"] == [0.0, 13.0, 5.0, 18.0]  # starts in the 2-cell padding ring
    assert padded.layout.meta["output"] == [20, 32, 32]
    ring = [s for s in padded.layout.shapes if s.type == "rect" and s.fillcolor == fa.PAD_COLOR]
    assert len(ring) == 1 and (ring[0].x0, ring[0].x1) == (0.0, 36.0)
    strided = fv.layer_shape_figure(LayerSpec("conv", 32, 32, 3, 20, kernel=5, stride=2))
    assert strided.layout.meta["unseen"] == [1, 1]  # (32 - 5) / 2 = 13.5: row and column 31 are never read
    assert "S = 2" in " ".join(a.text or "" for a in strided.layout.annotations)
    dilated = fv.layer_shape_figure(LayerSpec("conv", 32, 32, 3, 20, kernel=3, dilation=2))
    taps = [s for s in dilated.layout.shapes if s.type == "rect" and s.fillcolor == fa.WINDOW_COLOR
            and abs((s.x1 - s.x0) - 0.76) < 1e-9]
    assert len(taps) == 9 and {s.x0 for s in taps} == {0.12, 2.12, 4.12}  # 3x3 taps, 2 cells apart
    assert dilated.layout.meta["window"][2] == 5.0  # span D(K-1)+1 = 5


def test_layer_shape_figure_pooling_and_transposed():
    pool = fv.layer_shape_figure(LayerSpec("maxpool", 32, 32, 3, 3, kernel=2, stride=2))
    assert pool.layout.meta["output"] == [3, 16, 16]
    text = " ".join(a.text or "" for a in pool.layout.annotations)
    assert "no parameters" in text and "0 parameters" in text and "comparisons" in text
    tr = fv.layer_shape_figure(LayerSpec("transposed", 4, 4, 1, 1, kernel=3, stride=2, padding=1, output_padding=1))
    assert tr.layout.meta["output"] == [1, 8, 8]
    assert "= 8" in tr.layout.annotations[-1].text


def test_stack_figure_hides_answers_until_revealed():
    rows = ar.evaluate_stack((3, 32, 32), ar.parse_stack("conv k5 f20; maxpool k2; conv k40 f3"))
    hidden = fv.stack_figure((3, 32, 32), rows, [False, False, False])
    assert hidden.layout.meta["shown"] == ["3×32×32", "?", "?", "?"]
    text = " ".join(a.text or "" for a in hidden.layout.annotations)
    assert "28" not in text  # nothing gives the answer away
    shown = fv.stack_figure((3, 32, 32), rows, [True, True, True])
    assert shown.layout.meta["shown"] == ["3×32×32", "20×28×28", "20×14×14", "does not fit"]
    assert "conv 5×5, 20 filters" in " ".join(a.text or "" for a in shown.layout.annotations)


def test_dilation_and_grouped_figures():
    fig = fv.dilation_figure(3, (1, 2, 3))
    zs = [np.asarray(t.z) for t in fig.data]
    assert [z.shape for z in zs] == [(3, 3), (5, 5), (7, 7)] and all(z.sum() == 9 for z in zs)
    costs = ar.grouped_costs(32, 32, 64)
    g = fv.grouped_figure(costs)
    assert list(g.data[0].x) == [c.weights for c in costs] == [36864, 18432, 9216, 576, 576 + 4096]
    assert list(g.data[0].y) == ["groups = 1", "groups = 2", "groups = 4", "depthwise (64)", "depthwise + 1×1"]
    assert g.layout.title.text == "Weights of a 3×3 layer, 64 → 64 channels"
    assert list(g.data[0].marker.color).count("#54A24B") == 1  # the separable layer stands out
