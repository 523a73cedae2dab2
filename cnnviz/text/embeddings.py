"""Page text of /embeddings: menu titles, captions, hover texts and the "what to notice" notes of its views.

Streamlit-free and computation-free: :mod:`cnnviz.methods.embeddings` returns the numbers,
:mod:`cnnviz.ui.views.embeddings` puts these words beside them.

Examples::

    >>> METHOD_TITLES["tsne"]
    't-SNE'
    >>> layer_title("features.2", (6, 14, 14))
    'features.2  [6×14×14]'
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.methods.embeddings.sources import FOLDER

if TYPE_CHECKING:
    from cnnviz.methods.embeddings.sources import PointSet

METHOD_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
POOLING_TITLES = {
    "auto": "auto (flatten up to 4096 values, else average-pool the map to fit)",
    "flatten": "flatten (every value of the map)",
    "avg": "global average pool (one value per channel)",
}
PLACEMENT_NOTES = {
    "pca": "PCA places it exactly (the same linear projection).",
    "tsne": "Placed by openTSNE's transform: it starts at the median of its nearest reference points and is "
            "optimised against the fixed embedding (the reference points do not move).",
    "umap": "Placed by UMAP's transform against the fixed embedding.",
}  # how Embedding.project places a new point, per method
PIXELS_TITLE = "pixels (the raw input, the baseline)"

# ------------------------------------------------------------------------------------ menus and hovers


def source_title(source: str, own_dataset: bool = True) -> str:
    """How a source reads in a menu (``own_dataset=False``: the model was not trained on bundled data).

    Examples::

        >>> source_title("mnist:test"), source_title("mnist:test", own_dataset=False)
        ('Bundled mnist — test', 'Bundled mnist — test (28×28 grayscale, upscaled)')
    """
    if source == FOLDER:
        return "Image folder (path on the server)"
    return f"Bundled {source.replace(':', ' — ')}" + ("" if own_dataset else " (28×28 grayscale, upscaled)")


def layer_title(name: str, shape: Sequence[int], pixels: bool = False) -> str:
    """A layer's menu label: its name (or the pixels' title) and its output shape, e.g. ``"features.2  [6×14×14]"``.

    Examples::

        >>> layer_title("pixels", (1, 28, 28), pixels=True)
        'pixels (the raw input, the baseline)  [1×28×28]'
    """
    dims = "×".join(str(s) for s in shape)
    return (PIXELS_TITLE if pixels else name) + (f"  [{dims}]" if dims else "")


def hover_texts(points: PointSet, predictions: np.ndarray, model_classes: Sequence[str],
                wrong: np.ndarray | None = None) -> list[str]:
    """One hover text per point: its number, true label, the model's prediction, and whether it is wrong.

    Examples::

        >>> pts = PointSet(np.zeros((1, 1, 1), np.uint8), np.array([0]), ["cat"], "")
        >>> hover_texts(pts, np.array([1]), ["cat", "dog"], np.array([True]))
        ['#0<br>label: cat<br>predicted: dog<br><b>misclassified</b>']
    """
    out = []
    for i, (lab, pred) in enumerate(zip(points.labels, predictions, strict=True)):
        name = model_classes[pred] if 0 <= pred < len(model_classes) else str(pred)
        out.append(f"#{i}<br>label: {points.classes[lab] if lab >= 0 else '?'}<br>predicted: {name}"
                   + ("<br><b>misclassified</b>" if wrong is not None and wrong[i] else ""))
    return out


# ------------------------------------------------------------------------------------ embeddings.scatter
SOURCE_HELP = ("The bundled splits: MNIST 8000 train + 2000 test, Fashion-MNIST 15000 + 3000. "
               "Use train+test for more points.")
FOLDER_CAPTION = ("Images are read on the server. Folder names that match the model's class names enable "
                  "'misclassified' marks.")
NO_FOLDER = ("Type the path of an image folder on the server (one sub-folder per class, e.g. an ImageNet "
             "or Imagenette validation folder), or pick a bundled data set (28×28 grayscale, upscaled).")
FOLDER_FIRST = "Give an image folder in *The embedding: data, layer and method* first."
METHOD_PARAMETERS = ("t-SNE and UMAP first reduce the features to 100 principal components (standard practice, with "
                     "50 more common: faster neighbour search, less noise). t-SNE: openTSNE (Barnes-Hut, FFT from "
                     "10,000 points); UMAP: umap-learn.")


def not_own_data(model_name: str, width: int, height: int) -> str:
    """The warning beside the data menu when the model was not trained on the bundled (grayscale) data."""
    return (f"{model_name} expects {width}×{height} RGB photos; the bundled data are 28×28 grayscale digits/clothes, "
            "upscaled here. Their features show how an ImageNet model sees them, not a trained classifier's classes. "
            "Give an image folder for natural images.")


def scatter_caption(n: int, source: str, layer: str, dims: int, pooling: str, note: str, seconds: float) -> str:
    """The line under the controls: which images, which layer, how many values, how the picture was made."""
    return (f"{n} images ({source}) · layer **{layer}** → {dims} values per image ({pooling}) · {note} · "
            f"{seconds:.1f} s when computed")


SCATTER_NOTE = (
    "- **A deep layer separates the classes**: compact clusters and a high kNN accuracy; pick *pixels* as the "
    "layer to see them overlap.\n"
    "- **Misclassified points (×)** usually sit inside the cluster of the class the model predicted, or on a "
    "border.\n"
    "- **t-SNE distances between clusters mean little**: only neighbourhoods are kept, and cluster sizes are "
    "equalised. UMAP keeps a little more global structure; PCA keeps all of it but only linearly.\n"
    "- **Perplexity** changes the picture: small values shatter clusters into islands, large ones merge them.")

# ------------------------------------------------------------------------------------ embeddings.grid
GRID_HELP = ("The embedding is snapped to a side × side grid by a linear assignment (each cell gets one image, "
             "the total move is as small as possible).")


def grid_caption(method: str, shown: int, total: int, rows: int, side: int, dim: int) -> str:
    """What the image grid is: how it was snapped, how many images in how many cells.

    Examples::

        >>> grid_caption("pca", 64, 200, 8, 8, 2).split(") ")[-1]
        '64 of 200 images in 8×8 cells (a seeded random subset).'
    """
    return (f"Each image moved to the grid cell nearest its place in the {METHOD_TITLES[method]} picture above "
            f"(scipy's `linear_sum_assignment`: every cell one image, least total movement). "
            f"{shown} of {total} images in {rows}×{side} cells"
            + (" (a seeded random subset)" if shown < total else "")
            + (". From the first two of the three dimensions." if dim == 3 else "."))


GRID_NOTE = ("- Karpathy's *t-SNE of CNN codes*: neighbouring cells hold images the layer finds alike. Pick t-SNE as "
             "the method for the clearest regions; at the pixel layer, images group by brightness and shape only.")

# ------------------------------------------------------------------------------------ embeddings.own


def neighbours_caption(k: int, layer: str, same: int) -> str:
    """The sentence above your image's neighbours: how many share the class the model predicts for it."""
    return (f"Its **{k} nearest neighbours in feature space** ({layer}, Euclidean distance): {same} of "
            f"{k} have the class the model predicts for your image.")


OWN_NOTE = ("- At a deep layer the nearest neighbours share the predicted class; at *pixels* they only share "
            "brightness and stroke.")

# ------------------------------------------------------------------------------------ embeddings.compare
COMPARE_METHOD_HELP = "PCA by default: fast. t-SNE shows the clusters better and takes longer per layer."
COMPARE_CAPTION = ("Colours: true labels (legend of the scatter above when it is coloured by label). kNN accuracy: "
                   "leave-one-out 10-nearest-neighbour vote, in the 2D picture and in the full feature space; "
                   "trustworthiness: are the picture's neighbours true neighbours?")
TRUSTWORTHINESS_HELP = ("1.0: every neighbour in the picture is a true neighbour in feature space (scikit-learn's "
                        "trustworthiness, k=10, on up to 2000 points).")
COMPARE_NOTE = (
    "- **Pixels vs. deep layers.** In pixel space, digits that are drawn alike (4/9, 3/5/8) or clothes of the same "
    "shape (shirt, pullover, coat) overlap. At the last layers the clusters are compact and the kNN accuracy "
    "rises: the network has learned features in which the classes are (nearly) linearly separable.\n"
    "- **Untrained network.** Switch on *Untrained* in the sidebar: random features keep much of the pixel "
    "structure but do not separate the classes much better, so the separation above is learned.")

__all__ = ["METHOD_TITLES", "POOLING_TITLES", "PLACEMENT_NOTES", "PIXELS_TITLE", "source_title", "layer_title",
           "hover_texts", "SOURCE_HELP", "FOLDER_CAPTION", "NO_FOLDER", "FOLDER_FIRST", "METHOD_PARAMETERS",
           "not_own_data", "scatter_caption", "SCATTER_NOTE", "GRID_HELP", "grid_caption", "GRID_NOTE",
           "neighbours_caption", "OWN_NOTE", "COMPARE_METHOD_HELP", "COMPARE_CAPTION", "TRUSTWORTHINESS_HELP",
           "COMPARE_NOTE"]
