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


def test_dir_lists_the_public_api_for_tab_completion():
    names = dir(cnnviz)
    assert names == sorted(names) and len(names) == len(set(names))
    for name in ("load_model", "load_image", "wrap", "grad_cam", "receptive_fields", "CnnvizError", "methods", "core"):
        assert name in names, name
    assert set(cnnviz.__all__) <= set(names)
    assert all(hasattr(cnnviz, n) for n in names)  # tab completion offers nothing that then fails
