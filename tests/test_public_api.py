"""The notebook-facing API of DESIGN.md: every exported name resolves, and the docstring example holds."""
import cnnviz

from .conftest import SAMPLES


def test_every_exported_name_resolves():
    for name in cnnviz.__all__:
        assert getattr(cnnviz, name) is not None, name


def test_design_example():
    m = cnnviz.load_model("lenet5-mnist")
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    assert m.predict(img, k=1)[0][0] == "7"
    assert cnnviz.conv_output_size(32, 5) == 28
    assert cnnviz.receptive_fields(m)["features.3"].size == (14, 14)  # 5 + (5-1)*2 + (2-1)*1 by hand
    cam = cnnviz.grad_cam(m, img)
    assert cam is not None
