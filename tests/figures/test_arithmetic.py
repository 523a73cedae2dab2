"""cnnviz.figures.arithmetic: the sliding-window animation, the pooling example, im2col, the size limit."""
import json

import numpy as np
import torch
import torch.nn.functional as F
from plotly.utils import PlotlyJSONEncoder

from cnnviz.figures import arithmetic as fa
from cnnviz.methods import arithmetic as ar
from cnnviz.methods.arithmetic import LayerSpec


def test_pool_figures_show_pytorch_max_pool_and_matching_window_colours():
    ex = ar.pool_example()
    fin, fout = fa.pool_example_figures(ex)
    want = F.max_pool2d(ex.x[None, None], 2)[0, 0]
    np.testing.assert_array_equal(np.asarray(fout.data[0].z), want.numpy())
    np.testing.assert_array_equal(np.asarray(fin.data[0].z), ex.x.numpy())
    # four outlines on the input: window (r, c) covers cells r..r+1, c..c+1 (cell edges at +-0.5)
    outlines = fin.data[1:]
    assert len(outlines) == 4
    assert list(outlines[0].x) == [-0.5, 1.5, 1.5, -0.5, -0.5] and list(outlines[0].y) == [-0.5, -0.5, 1.5, 1.5, -0.5]
    assert list(outlines[3].x) == [1.5, 3.5, 3.5, 1.5, 1.5]
    # output cell i is drawn in the colour of the window it came from
    assert [t.line.color for t in fin.data[1:]] == [t.line.color for t in fout.data[1:]]
    assert list(fout.data[2].x) == [0.5, 1.5, 1.5, 0.5, 0.5]  # output cell (0, 1)
    assert [t.text for t in [fout.data[0]]][0].tolist() == [["6", "8"], ["3", "4"]]


def test_im2col_figures_hold_the_kernel_row_and_the_first_columns():
    x = torch.arange(49.).view(7, 7) % 10
    w = torch.tensor([[1., 0, -1], [2, 0, -2], [1, 0, -1]])
    ex = ar.im2col_example(x, w, 0.5, LayerSpec("conv", 7, 7, 1, 1, kernel=3))
    fw, fx = fa.im2col_figures(ex, max_columns=24)
    assert np.asarray(fw.data[0].z).tolist() == [w.flatten().tolist()]
    cols = np.asarray(fx.data[0].z)
    assert cols.shape == (9, 24)  # 25 window positions, the first 24 drawn
    assert "first 24 of 25" in fx.layout.title.text
    # column j is window j (row-major): window (0, 1) reads x[0:3, 1:4]
    np.testing.assert_array_equal(cols[:, 1], x[0:3, 1:4].flatten().numpy())


def test_animation_declines_grids_too_large_to_read():
    assert fa.animation_too_large(torch.zeros(7, 7), LayerSpec("conv", 7, 7, 1, 1, kernel=3, padding=1)) is None
    msg = fa.animation_too_large(torch.zeros(64, 64), LayerSpec("conv", 64, 64, 1, 1, kernel=3, padding=1))
    assert msg is not None and "66×66" in msg and f"{fa.MAX_GRID}×{fa.MAX_GRID}" in msg


def test_sliding_window_frames_show_pytorch_outputs():
    x = torch.arange(49.).view(7, 7) % 10
    w = torch.ones(3, 3)
    spec = LayerSpec("conv", 7, 7, 1, 1, kernel=3, stride=2, padding=1)
    fig = fa.sliding_window_figure(x, w, 1.0, spec, start=5)
    frames = fig.to_dict()["frames"]
    want = F.conv2d(x[None, None], w[None, None], torch.tensor([1.0]), stride=2, padding=1)[0, 0].numpy()
    assert len(frames) == want.size == 16
    # the last frame's output heat map is complete and equals PyTorch's output
    np.testing.assert_allclose(np.asarray(frames[-1]["data"][0]["z"], dtype=float), want)
    # the first frame shows only output cell (0, 0); the rest are still empty
    z0 = np.asarray(frames[0]["data"][0]["z"], dtype=float)
    assert z0[0, 0] == want[0, 0] and np.isnan(z0.ravel()[1:]).all()
    # the kernel outline of frame 5 (output row 1, col 1) starts at padded grid cell (2, 2)
    assert frames[5]["data"][1]["x"][0] == 1.5 and frames[5]["data"][1]["y"][0] == 1.5
    assert fig.to_dict()["layout"]["sliders"][0]["active"] == 5


def test_at_step_shows_that_frame_and_leaves_the_shared_animation_alone():
    x = torch.arange(49.).view(7, 7) % 10
    spec = LayerSpec("conv", 7, 7, 1, 1, kernel=3, stride=2, padding=1)
    anim = fa.window_animation(x, torch.ones(3, 3), 1.0, spec)
    before = json.dumps(anim, cls=PlotlyJSONEncoder, sort_keys=True)
    fig = fa.at_step(anim, 5).to_dict()
    frame = anim["frames"][5]
    for i, trace in zip(frame["traces"], frame["data"], strict=True):  # the frame's traces are what is shown
        assert all(fig["data"][i][k] is v for k, v in trace.items())
    assert fig["layout"]["sliders"][0]["active"] == 5
    assert fig["layout"]["annotations"] == frame["layout"]["annotations"]
    assert "output (1, 1)" in fig["layout"]["annotations"][0]["text"]  # step 5 of a 4x4 output: row 1, col 1
    assert fa.at_step(anim, 10**6).to_dict()["layout"]["sliders"][0]["active"] == 15  # clipped to the last frame
    assert json.dumps(anim, cls=PlotlyJSONEncoder, sort_keys=True) == before  # a cache can share it
