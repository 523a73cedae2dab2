"""cnnviz.figures.attribution: maps, overlays, the method grid and the sanity chart show the methods' numbers."""
import numpy as np
import torch

import cnnviz
from cnnviz.figures.attribution import HIGH, LOW, attribution_map, attribution_overlay, method_grid, sanity_chart
from cnnviz.figures.render import COLORMAPS
from cnnviz.methods.attribution import Attribution, attribute, rank_correlation

from ..conftest import SAMPLES


def _rgb(cmap: str, i: int) -> list[int]:
    return (np.asarray(COLORMAPS[cmap][i]) * 255).round().astype(int).tolist()


def test_signed_occlusion_map_is_symmetric_around_zero():
    a = Attribution("occlusion", 0, torch.tensor([[2.0, 0.0], [-1.0, -2.0]]))
    p = attribution_map(a, size=2)
    assert p.image.shape == (2, 2, 3)
    # +2 (hiding it lowers the score most) is the red end, -2 the blue end, 0 the white middle
    assert p.image[0, 0].tolist() == _rgb("rdbu", -1) and p.image[1, 1].tolist() == _rgb("rdbu", 0)
    assert p.image[0, 1].tolist() == _rgb("rdbu", 5)
    assert p.caption == "Occlusion (red: hiding it lowers the score, blue: raises it)"


def test_unsigned_map_spans_viridis():
    p = attribution_map(Attribution("gradcam", 0, torch.tensor([[1.0, 3.0], [5.0, 1.0]])), size=4)
    assert p.image.shape == (4, 4, 3) and p.image[0, 0].tolist() == _rgb("viridis", 0)
    assert p.image[2, 0].tolist() == _rgb("viridis", -1) and p.image[1, 3].tolist() == _rgb("viridis", 5)
    assert p.caption == "Grad-CAM (yellow = most important)"


def test_overlay_shows_the_positive_part_only():
    seen = np.full((2, 2, 3), 200, np.uint8)
    a = Attribution("occlusion", 0, torch.tensor([[4.0, -4.0], [2.0, 0.0]]))
    full = attribution_overlay(seen, a, alpha=1.0)
    # heat = clamp(map, 0) / 4: 1 at (0, 0), 0 where the map is negative or zero, 0.5 at (1, 0)
    assert full[0, 0].tolist() == _rgb("jet", -1) and full[0, 1].tolist() == _rgb("jet", 0) == full[1, 1].tolist()
    assert full[1, 0].tolist() == _rgb("jet", 4)
    assert np.array_equal(attribution_overlay(seen, a, alpha=0.0), seen)
    half = attribution_overlay(seen, a, alpha=0.5)
    assert half[0, 1].tolist() == [round(0.5 * 200 + 0.5 * c) for c in _rgb("jet", 0)]


def test_method_grid_captions_and_images(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    seen = lenet.deprocess(lenet.preprocess(img))
    results = {k: attribute(lenet, img, k) for k in ("saliency", "gradcam")}
    results["saliency"].info["seconds"] = 0.0123
    panels = method_grid(seen, results, alpha=0.4)
    assert [p.caption for p in panels] == ["Gradient saliency — 12 ms", "Grad-CAM — 0 ms"]
    assert np.array_equal(panels[1].image, attribution_overlay(seen, results["gradcam"], 0.4))
    random = method_grid(seen, results, prefix="random: ", timings=False)
    assert [p.caption for p in random] == ["random: Gradient saliency", "random: Grad-CAM"]


def test_sanity_chart_bars_are_the_correlations():
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])
    rho = rank_correlation(a, b)  # ranks differ in one swap: 1 - 6 * 2 / (4 * 15) = 0.8
    assert abs(rho - 0.8) < 1e-9
    bar = sanity_chart({"saliency": rho, "gradcam": -0.05, "occlusion": 0.5}).data[0]
    assert list(bar.x) == ["Gradient saliency", "Grad-CAM", "Occlusion"] and list(bar.y) == [rho, -0.05, 0.5]
    assert list(bar.text) == ["0.80", "-0.05", "0.50"]
    assert list(bar.marker.color) == [HIGH, LOW, LOW]  # red strictly above 0.5
