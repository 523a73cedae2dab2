"""cnnviz.methods.embeddings.sources: bundled subsets, image folders, sources, misclassified points, colours."""
import numpy as np
import pytest
from PIL import Image

from cnnviz.errors import CnnvizError, ImageFolderError
from cnnviz.methods.embeddings import PIXELS, extract_features
from cnnviz.methods.embeddings.sources import (
    PointSet,
    colour_groups,
    load_image_folder,
    load_points,
    load_source,
    misclassified,
    source_choices,
    source_size,
    square_thumbnail,
)


def test_sources_misclassified_and_colour_groups(lenet):
    assert source_choices(lenet) == ["mnist:test", "mnist:train", "mnist:train+test", "folder"]
    assert source_size("fashion-mnist:train+test") == 18000 and source_size("folder") == 20_000
    pts = PointSet(np.zeros((4, 1, 1), np.uint8), np.array([0, 1, 2, -1]), ["Cat", "dog", "emu"], "hand")
    known, wrong = misclassified(pts, np.array([1, 1, 0, 0]), ["dog", "cat"])  # model: 0 dog, 1 cat; no emu
    assert known.tolist() == [True, True, False, False] and wrong.tolist() == [False, True, False, False]
    assert not misclassified(pts, np.array([1, 1, 0, 0]), ["dog", "cat"], same_task=False)[0].any()
    g = np.array([3] * 5 + [1] * 4 + [2] * 3 + [0] * 2 + [-1])
    assert colour_groups(g, max_groups=3).tolist() == [3] * 5 + [1] * 4 + [-1] * 6  # the 2 most frequent keep theirs
    assert colour_groups(g, max_groups=4).tolist() == g.tolist()


def test_load_points_subsets():
    a = load_points("mnist", "test", 50, seed=0)
    b = load_points("mnist", "test", 50, seed=0)
    assert np.array_equal(a.images, b.images) and a.images.shape == (50, 28, 28)
    assert len(load_points("mnist", "test", 10**6)) == 2000  # capped at the split
    assert len(load_points("fashion-mnist", "train+test", 10**6)) == 18000
    with pytest.raises(ValueError, match="split must be"):
        load_points("mnist", "val", 5)
    with pytest.raises(CnnvizError, match="split must be"):
        load_points("mnist", "val", 5)
    src = load_source("mnist:test", 50, seed=0)
    assert np.array_equal(src.images, a.images) and src.source == "mnist test, 50 of 2000"
    with pytest.raises(ImageFolderError, match="path of an image folder"):
        load_source("folder", 10, folder="  ")


def test_image_folder(tmp_path, lenet):
    for cls, value in (("dark", 20), ("light", 230)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 30, 3), value + i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dark" / "notes.txt").write_text("not an image")
    (tmp_path / "light" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # unreadable: skipped
    pts = load_image_folder(tmp_path, n=100, thumb=16)
    assert pts.classes == ["dark", "light"] and sorted(pts.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert pts.images.shape == (6, 16, 16, 3)
    assert pts.source == f"{tmp_path.name}: 6 of 7 images"
    f = extract_features(lenet, list(pts.paths), PIXELS)
    assert f.values.shape == (6, 784)
    with pytest.raises(FileNotFoundError, match="ImageFolder"):
        load_image_folder(tmp_path / "missing")


def test_square_thumbnail_takes_the_centre_square():
    a = np.zeros((4, 8, 3), np.uint8)
    a[:, 2:6] = 200  # the centre 4 x 4 of an 8-wide image
    t = square_thumbnail(Image.fromarray(a), 2)
    assert t.shape == (2, 2, 3) and (t == 200).all()
