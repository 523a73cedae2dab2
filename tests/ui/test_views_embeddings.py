"""/embeddings as views: the scatter owns the data, layer and method; the other views read them and share its
work (Streamlit AppTest)."""
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.core.paths import APP_SCRIPT
from cnnviz.methods import embeddings as em
from cnnviz.ui import view


def _page(params: dict) -> AppTest:
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=240)
    at.switch_page("pages/embeddings.py")
    at.query_params.update(params)
    return at


def test_the_views_read_the_scatters_keys_and_own_theirs():
    views = view.all_views()
    scatter = views["embeddings.scatter"]
    assert {"em_data", "em_n", "em_layer", "em_method", "em_dim"} <= set(scatter.keys)
    for vid, own in (("embeddings.grid", {"em_grid"}), ("embeddings.own", {"em_k"}),
                     ("embeddings.compare", {"em_clayers", "em_cmethod"})):
        assert set(views[vid].keys) == own and set(views[vid].reads) == set(scatter.keys), vid
    anchor = "4-do-the-features-get-more-abstract-layers-compared"
    assert view.view_for_link("embeddings", anchor) == "embeddings.compare"


def test_a_full_run_computes_features_and_each_embedding_once():
    # a seed no other test uses: the server-wide caches start empty for these points
    at = _page({"model": "lenet5-mnist", "em_n": "200", "em_seed": "4321"})
    # extract_layers where cached_features calls it; embed where the views call it
    with mock.patch.object(em.features, "extract_layers", wraps=em.extract_layers) as layers, \
            mock.patch.object(em, "embed", wraps=em.embed) as embed:
        at.run()
        assert not at.exception, [e.value for e in at.exception]

        def passes():  # the passes over several layers (not your image's)
            return sum(len(c.args[1]) > 1 for c in layers.call_args_list)

        assert passes() == 1  # one forward pass for the scatter's layer and every compared layer
        # pixels, features.2, features.5, classifier.4: the scatter's PCA of classifier.4 is the comparison's too
        assert embed.call_count == 4
        at.run()  # a full rerun: everything from the server-wide cache
        assert not at.exception
        assert passes() == 1 and embed.call_count == 4
    text = "\n".join(m.value for m in at.markdown)
    assert "200 of 200 images in 14×15 cells" in text  # the grid view read em_n from the scatter's control


def test_a_reading_view_alone_follows_the_link():
    at = _page({"view": "embeddings.grid", "em_n": "200", "em_grid": "8", "em_seed": "77"}).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("64 of 200 images in 8×8 cells" in m.value for m in at.markdown)


@pytest.mark.parametrize("vid", ["embeddings.scatter", "embeddings.grid", "embeddings.own", "embeddings.compare"])
def test_every_view_runs_as_a_slide(vid):
    at = _page({"present": "1", "view": vid, "model": "small-vgg-fashion", "img": "fashion-ankle-boot",
                "em_n": "300"}).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
