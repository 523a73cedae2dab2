"""Decks: the JSON format, its validation, and the bundled decks."""
import json

import pytest

from cnnviz.core.paths import DECKS_DIR
from cnnviz.errors import CnnvizError
from cnnviz.methods import decks
from cnnviz.methods.decks import DeckError, link_problems, make_link, parse_deck, split_link
from cnnviz.ui.nav import PAGES

GOOD = {"title": "T", "slides": [{"title": "a", "link": "/arithmetic?ar_k=3", "note": "n"},
                                 {"title": "b", "link": "/"}]}


def test_parse_round_trip():
    d = parse_deck(json.dumps(GOOD))
    assert d.title == "T" and len(d) == 2
    assert d.slides[0].path == "arithmetic" and d.slides[0].params == {"ar_k": "3"} and d.slides[0].note == "n"
    assert d.slides[1].path == "" and d.slides[1].note == ""  # note is optional
    assert parse_deck(d.to_json()).to_dict() == d.to_dict()
    assert parse_deck(json.dumps(GOOD).encode("utf-8-sig")).title == "T"  # a BOM from an editor is fine


@pytest.mark.parametrize("data, words", [
    (b"{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"slides": []}', "'title' must be a string (it is missing)"),
    ('{"title": 3, "slides": []}', "'title' must be a string (it is a int)"),
    ('{"title": "T"}', "'slides' must be a list"),
    ('{"title": "T", "slides": ["/arithmetic"]}', "slide 1 must be an object"),
    ('{"title": "T", "slides": [{"title": "a"}]}', "slide 1: 'link' must be a string"),
    ('{"title": "T", "slides": [{"title": "a", "link": "/", "note": 5}]}', "'note' must be a string"),
    (b"\xff\xfe{", "not UTF-8"),
    (b" " * (decks.MAX_DECK_BYTES + 1), "at most 1 MiB"),
])
def test_malformed_deck_is_a_clear_cnnviz_error(data, words):
    with pytest.raises(DeckError) as e:
        parse_deck(data, source="my.json")
    assert isinstance(e.value, CnnvizError)
    assert words in str(e.value) and "my.json" in str(e.value)


def test_split_and_make_link_are_inverse():
    assert split_link("/receptive-field?rf_layer=features.3&model=lenet5-mnist#one-unit") == (
        "receptive-field", {"rf_layer": "features.3", "model": "lenet5-mnist"}, "one-unit")
    assert make_link("receptive-field", {"rf_layer": "features.3"}, "one-unit") == \
        "/receptive-field?rf_layer=features.3#one-unit"
    assert split_link(make_link("", {"a": "x y&z"})) == ("", {"a": "x y&z"}, "")


def test_link_problems():
    known = {"", "arithmetic"}
    assert link_problems("/arithmetic?ar_k=3", known) == []
    assert "'/nope'" in link_problems("/nope?x=1", known)[0]
    assert "not app-relative" in link_problems("http://host:8501/arithmetic", known)[0]
    assert "not app-relative" in link_problems("arithmetic", known)[0]
    assert "twice" in link_problems("/arithmetic?ar_k=3&ar_k=4", known)[0]
    assert "'a-b'" in link_problems("/arithmetic?a-b=1", known)[0]


def test_missing_bundled_deck_names_the_bundled_ones():
    with pytest.raises(DeckError, match="convolution-fundamentals"):
        decks.load_bundled("no-such-deck")
    with pytest.raises(DeckError, match="cannot read"):
        decks.load_deck(DECKS_DIR / "no-such-file.json")


def test_bundled_decks_follow_the_lecture_and_link_to_real_pages():
    bundled = decks.bundled_decks()
    assert {"convolution-fundamentals", "what-a-cnn-learns", "limits-of-cnns"} <= set(bundled)
    paths = {p.url_path for p in PAGES}
    for name in bundled:
        d = decks.load_bundled(name)
        assert d.name == name and 8 <= len(d) <= 15, (name, len(d))
        for s in d.slides:
            assert s.title and len(s.note) > 40, (name, s.title)
            assert link_problems(s.link, paths) == [], (name, s.link)
            # bundled models only, so the decks work offline
            assert s.params.get("model", "lenet5-mnist") in ("lenet5-mnist", "small-vgg-fashion"), s.link
    first = decks.load_bundled("convolution-fundamentals").slides[0]
    assert first.path == "arithmetic"
