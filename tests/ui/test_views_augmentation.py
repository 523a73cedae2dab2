"""/augmentation as views: one view per sweep, every view a slide (Streamlit AppTest)."""
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.ui import view
from cnnviz.ui.nav import declared

SLIDES = {  # the bundled deck's settings for each view
    "augmentation.samples": {"model": "small-vgg-fashion", "img": "fashion-ankle-boot", "au_t": "cutmix,noise"},
    "augmentation.rotation": {"model": "lenet5-mnist", "img": "digit-6", "au_rstep": "30"},
    "augmentation.shift": {"model": "small-vgg-fashion", "img": "fashion-sneaker", "au_smax": "8"},
    "augmentation.light": {"model": "small-vgg-fashion", "img": "fashion-sneaker"},
    "augmentation.six-nine": {"model": "lenet5-mnist", "img": "digit-6"},
    "augmentation.scramble": {"model": "small-vgg-fashion", "img": "fashion-ankle-boot", "au_g": "7"},
}


def _run(params: dict) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240)
    at.switch_page("pages/augmentation.py")
    at.query_params.update(params)
    return at.run()


def test_each_sweep_is_a_view_and_old_anchors_land_on_theirs():
    assert set(declared("augmentation").views) == set(SLIDES)
    views = view.all_views()
    assert "au_rotate_degrees" in views["augmentation.samples"].keys  # every transform parameter's key
    assert view.view_for_link("augmentation", "label-changing-augmentation-a-6-becomes-a-9") == "augmentation.six-nine"
    assert view.view_for_link("augmentation", "scrambled-image-the-picasso-problem") == "augmentation.scramble"
    assert view.view_for_link("augmentation", "invariance-sweeps") == "augmentation.rotation"
    assert view.view_for_link("augmentation", "", {"au_smax": "8"}) == "augmentation.shift"


@pytest.mark.parametrize("vid", sorted(SLIDES))
def test_every_view_runs_as_a_slide(vid):
    at = _run({"present": "1", "view": vid, **SLIDES[vid]})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_samples_slide_is_one_picture_with_the_count():
    at = _run({"present": "1", "view": "augmentation.samples", **SLIDES["augmentation.samples"]})
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown) + "\n".join(f"{m.label} {m.value}" for m in at.metric)
    assert "of 16" in text and "Ankle boot" in text
    assert len(at.code) == 0  # the torchvision code stays on the page


def test_the_six_nine_view_explains_itself_on_a_model_without_digits():
    at = _run({"view": "augmentation.six-nine", "model": "small-vgg-fashion"})
    assert not at.exception
    assert any("needs a model that reads digits" in i.value for i in at.info)
