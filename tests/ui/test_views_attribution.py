"""/attribution as views: old deck links land on their views, each deck slide shows its figure (AppTest)."""
import pytest

from cnnviz import load_model
from cnnviz.methods.attribution import METHODS
from cnnviz.methods.decks import load_bundled
from cnnviz.text import attribution as txt
from cnnviz.ui import view
from cnnviz.ui.views import attribution as va

from .apptest import open_page


def _captions(at) -> str:
    """The captions of the images in the main area."""
    return " ".join(im.caption for el in at.main.get("image") for im in el.proto.imgs)


_app = open_page


def test_old_deck_links_open_their_views():
    """The link-only slides of the decks before views (their anchors) land on the views they meant, and the
    bundled decks now name those views."""
    from urllib.parse import parse_qsl, urlsplit
    old = {"/attribution?model=small-vgg-fashion&img=fashion-ankle-boot&at_method=saliency": "attribution.map",
           "/attribution?model=small-vgg-fashion&img=fashion-ankle-boot&at_method=gradcam": "attribution.map",
           "/attribution?model=small-vgg-fashion&img=fashion-ankle-boot&at_method=gradcam"
           "#4-sanity-check-the-same-map-on-a-network-with-random-weights": "attribution.sanity",
           "/attribution?model=lenet5-mnist&img=digit-6&at_method=saliency"
           "#4-sanity-check-the-same-map-on-a-network-with-random-weights": "attribution.sanity"}
    for link, want in old.items():
        u = urlsplit(link)
        assert view.view_for_link(u.path.strip("/"), u.fragment, dict(parse_qsl(u.query))) == want, link
    named = {s.title: s.view for name in ("what-a-cnn-learns", "limits-of-cnns") for s in load_bundled(name).slides
             if s.path == "attribution"}
    assert named == {"Saliency: which pixels matter": "attribution.map",
                     "Grad-CAM: where the last conv layer looks": "attribution.map",
                     "The sanity check": "attribution.sanity", "Explanations have limits too": "attribution.sanity"}


def test_every_method_starts_by_itself_on_small_models_only():
    assert va._cheap(load_model("lenet5-mnist")) and va._cheap(load_model("small-vgg-fashion"))
    assert not va._cheap(load_model("resnet18", untrained=True))  # on a CPU: behind its switch


def test_every_method_has_its_line_of_page_text():
    assert set(txt.METHOD_NOTES) == set(METHODS) and all(txt.METHOD_NOTES[k].strip() for k in METHODS)


@pytest.mark.parametrize("method", ["saliency", "gradcam", "occlusion"])  # occlusion: its progress bar
def test_map_slide(method):
    at = _app("attribution", present="1", view="attribution.map", model="small-vgg-fashion", img="fashion-ankle-boot",
              at_method=method)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="qp:at_method").value == method  # in the slide's controls
    assert len(at.main.get("plotly_chart")) == 1 and len(at.main.get("image")) == 1  # the map and the overlay
    assert 'class "Ankle boot"' in _captions(at)


def test_sanity_slide_and_its_reads():
    at = _app("attribution", present="1", view="attribution.sanity", model="lenet5-mnist", img="digit-6",
              at_method="saliency")
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric] == ["rank corr."]  # rank correlation, short for the slide's narrow column
    captions = _captions(at)
    assert "Gradient saliency: trained network" in captions and "random weights" in captions
    assert at.query_params.get("at_method") in ("saliency", ["saliency"])  # read by the sanity view: kept in the link
