import math

import numpy as np
import pytest

from cnnviz.methods.why_conv import bar_stimulus, cell_tuning


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0])
def test_the_bar_lies_at_its_angle(angle):
    img = bar_stimulus(angle, 0.0)
    rows, cols = np.nonzero(img > 0.5)
    c = (img.shape[0] - 1) / 2
    x, y = cols - c, c - rows  # y up, as seen
    d = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    across = np.abs(x * -d[1] + y * d[0])  # distance from the line through the centre at that angle
    assert across.max() <= 2.0


@pytest.mark.parametrize("preferred", [0.0, 45.0, 90.0, 150.0])
def test_simple_cell_tuning_peaks_at_its_own_orientation(preferred):
    t = cell_tuning(preferred, preferred, 0.0)
    assert t.angles[np.argmax(t.simple_by_angle)] == preferred
    assert t.simple_by_angle.max() == pytest.approx(1.0)
    orthogonal = np.argmin(np.abs(((t.angles - preferred) % 180) - 90))
    assert t.simple_by_angle[orthogonal] < 0.1


def test_complex_cell_keeps_firing_where_the_simple_cell_drops():
    t = cell_tuning(90.0, 90.0, 0.0, pool=10)
    near = np.abs(t.offsets) <= 8
    away = near & (np.abs(t.offsets) >= 3)
    assert (t.complex_by_offset[near] > 0.9).all()
    assert (t.simple_by_offset[away] < 0.3).all()
    assert t.simple_by_offset[t.offsets == 0][0] == pytest.approx(1.0)
    assert t.complex_by_offset[np.abs(t.offsets) >= 20].max() < 0.3  # far outside the pool it stops too
