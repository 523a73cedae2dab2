"""The figures layer: every chart and image grid of the app, Streamlit-free.

One module per topic; each function returns a Plotly figure or a uint8 image array, so a
page, a deck slide and the command line show and save the same thing. :func:`to_png` (in
:mod:`cnnviz.figures.export`) is the one export path, figure -> PNG bytes.
"""
from cnnviz.figures.export import to_png

__all__ = ["to_png"]
