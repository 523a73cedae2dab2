"""Server-wide resources: a shared figure is built once per arguments and handed out frozen."""
import json
import re

import numpy as np
import plotly.colors as pcolors
import plotly.io
import pytest

from cnnviz.figures import detection as fd
from cnnviz.figures.common import FrozenFigure, colorscale
from cnnviz.ui.resources import shared_figure

BUILT: list[tuple] = []
PLACEHOLDER = re.compile(r"#0000(?:[0-3][0-9]|40)\b", re.I)


def validate_colour(c: str) -> tuple[int, ...]:
    """A colour as an (r, g, b) tuple, from '#rrggbb' or 'rgb(r, g, b)'."""
    if c.startswith("#"):
        return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(v) for v in c[c.index("(") + 1:-1].split(","))


@shared_figure()
def _boxes_figure(side: int, height: int):
    BUILT.append((side, height))
    return fd.canvas_figure(np.zeros((side, side), np.uint8), [fd.BoxSet(np.array([[1., 2., 5., 6.]]), ["a"])],
                            f"{side} px", height), f"caption {side}"


def test_a_shared_figure_is_built_once_per_arguments_and_frozen():
    first, caption = _boxes_figure(16, 300)
    again, _ = _boxes_figure(16, 300)
    other, caption2 = _boxes_figure(24, 300)
    assert BUILT == [(16, 300), (24, 300)]  # the second call with the same arguments built nothing
    assert isinstance(first, FrozenFigure) and again is first and (caption, caption2) == ("caption 16", "caption 24")
    direct = fd.canvas_figure(np.zeros((16, 16), np.uint8), [fd.BoxSet(np.array([[1., 2., 5., 6.]]), ["a"])],
                              "16 px", 300).to_dict()
    got = first.to_dict()
    assert got["layout"] == direct["layout"]
    np.testing.assert_array_equal(got["data"][1]["x"], direct["data"][1]["x"])


@pytest.mark.parametrize("name", ["Magma", "Inferno", "IceFire", "Viridis", "RdBu_r"])
def test_colour_scales_hold_no_streamlit_placeholder(name):
    """Streamlit swaps #000001..#000040 anywhere in a chart for theme colours: Magma's black zero came out pink."""
    stops = colorscale(name)
    named = next(getattr(m, name) for m in (pcolors.sequential, pcolors.diverging, pcolors.cyclical)
                 if hasattr(m, name))
    assert len(stops) == len(named) and stops[0][0] == 0.0 and stops[-1][0] == 1.0
    assert [validate_colour(c) for _, c in stops] == [validate_colour(c) for c in named]  # the same colours
    assert not PLACEHOLDER.search(json.dumps(stops))


def test_the_objectness_map_sends_no_placeholder_colour():
    fig = fd.rpn_figure(np.zeros((64, 64), np.uint8), np.zeros((9, 4)), np.linspace(0, 1, 256).reshape(16, 16),
                        np.zeros((0, 4)), [])
    sent = json.loads(plotly.io.to_json(fig))
    sent["layout"].pop("template", None)  # Streamlit's own template: its placeholders are meant
    assert not PLACEHOLDER.search(json.dumps(sent))
