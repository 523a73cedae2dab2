"""The table of pages: one row per page, used by app.py, the Home page and the tests."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cnnviz.core.paths import PAGES_DIR


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    url_path: str
    icon: str
    blurb: str
    section: str = ""  # the heading it sits under in the sidebar ("": above the sections)

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file

    @property
    def exists(self) -> bool:
        return self.path.is_file()


PAGES = [
    PageSpec("home.py", "Home", "", ":material/home:", "What cnnviz is and the loaded model."),
    PageSpec("arithmetic.py", "Convolution arithmetic", "arithmetic", ":material/calculate:",
             "Output size, padding, stride, dilation, groups, pooling, transposed conv; "
             "the sliding window, step by step.",
             section="Convolution"),
    PageSpec("architecture.py", "Architecture", "architecture", ":material/account_tree:",
             "Every layer of the loaded model: shapes, parameters, MACs, receptive field; case studies.",
             section="Convolution"),
    PageSpec("kernels.py", "Filter kernels", "kernels", ":material/grid_on:",
             "Classic kernels (Sobel, Gabor, ...) on your image, and the filters the network learned.",
             section="Convolution"),
    PageSpec("activations.py", "Activation maps", "activations", ":material/layers:",
             "Your image through every layer: feature maps, strongest channels, predictions.",
             section="Inside a trained network"),
    PageSpec("attribution.py", "Saliency and Grad-CAM", "attribution", ":material/visibility:",
             "Which pixels drive the prediction: gradients, SmoothGrad, Integrated Gradients, Grad-CAM, occlusion.",
             section="Inside a trained network"),
    PageSpec("maximal.py", "Maximally activating inputs", "maximal", ":material/auto_awesome:",
             "The dataset patches that excite a channel most, and images synthesized to excite it.",
             section="Inside a trained network"),
    PageSpec("embeddings.py", "Embeddings", "embeddings", ":material/scatter_plot:",
             "PCA, t-SNE and UMAP of a layer's features: watch classes separate with depth.",
             section="Inside a trained network"),
    PageSpec("receptive-field.py", "Receptive fields", "receptive-field", ":material/center_focus_strong:",
             "How much of the image a unit sees: theoretical and effective receptive fields.",
             section="Inside a trained network"),
    PageSpec("augmentation.py", "Augmentation effects", "augmentation", ":material/transform:",
             "Transforms of your image and what they do to the prediction; invariance sweeps.",
             section="Learning and its limits"),
    PageSpec("training.py", "Training", "training", ":material/model_training:",
             "Watch a CNN learn: live curves and filters, vanishing gradients, overfitting, transfer learning.",
             section="Learning and its limits"),
    PageSpec("adversarial.py", "Adversarial examples", "adversarial", ":material/bug_report:",
             "An invisible change that flips the answer: FGSM and PGD, accuracy against epsilon, robust training.",
             section="Learning and its limits"),
    PageSpec("why-convolutions.py", "Why convolutions", "why-convolutions", ":material/lightbulb:",
             "Locality and weight sharing as a prior: permuted pixels, handcrafted features, simple and complex "
             "cells, vanishing gradients, degradation, random labels.",
             section="Learning and its limits"),
    PageSpec("capsules.py", "Capsule networks", "capsules", ":material/bubble_chart:",
             "Beyond pooling: capsules as pose vectors, squashing, routing by agreement, a trained CapsNet.",
             section="Learning and its limits"),
    PageSpec("detection.py", "Object detection", "detection", ":material/crop_free:",
             "From R-CNN to Faster R-CNN on canvases of digits: proposals, RoI pooling, anchors, NMS, timings.",
             section="Learning and its limits"),
    PageSpec("network.py", "The network at a glance", "network", ":material/hub:",
             "The executed graph with live activations; one unit computed with the real weights.",
             section="Inside a trained network"),
    PageSpec("deck.py", "Deck player", "deck", ":material/slideshow:",
             "Step through a lecture deck of saved views, in presenter view.",
             section="Teaching"),
]


def available_pages() -> list[PageSpec]:
    """Pages whose file exists (pages join the navigation when they land)."""
    return [p for p in PAGES if p.exists]


def sections() -> dict[str, list[PageSpec]]:
    """The available pages grouped under their sidebar headings, in table order (``""`` first: Home)."""
    out: dict[str, list[PageSpec]] = {}
    for p in available_pages():
        out.setdefault(p.section, []).append(p)
    return out


@cache
def declared(path: str) -> Any | None:
    """The ``cnnviz.ui.page.Page`` a page file declares (``PAGE = Page(...)``), read by importing the file
    (nothing is drawn); None for no such page, or a page that is not a list of views (the player)."""
    spec = next((p for p in PAGES if p.url_path == path), None)
    if spec is None or not spec.exists or "PAGE = Page(" not in spec.path.read_text(encoding="utf-8"):
        return None
    mod_spec = importlib.util.spec_from_file_location(f"cnnviz_pages.{spec.file[:-3].replace('-', '_')}", spec.path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    page = getattr(module, "PAGE", None)
    return page if isinstance(getattr(page, "views", None), tuple) else None


def page_views(path: str) -> tuple[str, ...]:
    """The view ids of the page at ``path`` (empty for a page without views, e.g. the player)."""
    page = declared(path)
    return page.views if page else ()
