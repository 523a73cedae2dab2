"""Page text of /attribution: one line per method, the views' explanations and "what to notice" notes.

Streamlit-free and computation-free; the methods are in :mod:`cnnviz.methods.attribution`.
"""
from __future__ import annotations

METHOD_NOTES = {
    "saliency": "max over colour channels of |d score / d pixel|: which pixels would change the score fastest.",
    "smoothgrad": "saliency averaged over noisy copies of the image: less speckle, same idea.",
    "ig": "gradients summed along a path from a black image to yours; they add up to the score difference.",
    "gradcam": "a conv layer's maps weighted by their average gradient, kept where positive: coarse, class-specific.",
    "guided_gradcam": "guided backprop (only positive gradients through ReLUs) times Grad-CAM: sharp edges, "
                      "only where the class is.",
    "occlusion": "how much the class score drops when a grey patch hides each region; model-agnostic, "
                 "one forward pass per patch.",
    "deconvnet": "Zeiler and Fergus (2014): the score sent back through the network with every ReLU rectifying the "
                 "signal itself; shows patterns the class responds to, much like guided backprop.",
    "deeplift": "each pixel's share of score(x) - score(black), by comparing every unit with its value on the black "
                "image; signed (red: for the class, blue: against).",
    "gradientshap": "gradients at random points between noisy copies of the image and a baseline (black or mean "
                    "colour), times the difference; an estimate of SHAP values, signed.",
    "gradcampp": "Grad-CAM with each map weighted by its positive gradients only, pixel by pixel: better when the "
                 "class appears several times.",
    "xgradcam": "Grad-CAM with gradients weighted by the normalised activations (an axiom-based weighting).",
    "layercam": "each activation weighted by its own positive gradient (no averaging): finer maps, also on early "
                "layers.",
    "hirescam": "activations times gradients element-wise, summed: what the layer really contributes to the score "
                "for models ending in global average pooling.",
    "scorecam": "no gradients: each map masks the image, and the class score of the masked image is that map's "
                "weight; one forward pass per channel, batched.",
    "ablationcam": "no gradients: each channel is switched off in turn and the relative drop of the score is its "
                   "weight; only the layers after the CAM layer run, batched.",
    "eigencam": "the first principal component of the layer's maps: no gradients and NOT class-specific (it shows "
                "what the layer responds to most).",
}

TARGET_NOTE = "- Explain a class the network did **not** predict: the maps show the evidence *for* it."

MAP_NOTE = (
    "- **Saliency** is speckled and often follows edges; **SmoothGrad** averages the speckle away.\n"
    "- **Grad-CAM** is coarse (the last conv layer of ResNet-18 is 7×7) but class-specific: pick another class "
    "and the blob moves. On an earlier layer it becomes finer and less specific.\n"
    "- **Occlusion** needs no gradients at all, only many forward passes: a large patch finds objects, a small "
    "one finds strokes.\n"
    "- **Integrated Gradients** adds up exactly to the score difference from a black image (the completeness "
    "error shrinks with more steps).")

ALL_NOTE = (
    "- The methods often disagree: gradient maps are sharp and speckled, CAMs coarse blobs, occlusion in "
    "between.\n"
    "- With a **shared** colour scale, a weak map looks weak.")

SANITY_INTRO = (
    "Adebayo et al. (2018) asked: if we scramble the network's weights, does the explanation change? If it "
    "does not, the method shows the *image* (its edges), not what the network *learned*. Here the same "
    "method runs on the same architecture with random weights, for the same class index. The number is the "
    "rank correlation of the two maps (1: same ranking of pixels; near 0: unrelated).")

SANITY_NOTE = (
    "- Gradient saliency and guided methods on a random network still look like the image's edges: part of "
    "what they show is the image, not the network.\n"
    "- A map that barely changes (high rank correlation) explains the image, not the model.")

FAITHFULNESS_INTRO = (
    "**Deletion** removes the pixels a map ranks highest first: for a faithful map the class "
    "probability falls fast (low AUC). **Insertion** adds them to the baseline first: it rises fast. "
    "Random maps are the bar.")

FAITHFULNESS_NOTE = (
    "- A pretty map is not always a faithful one: check its rank against the random map.\n"
    "- Deletion and insertion can disagree: a map can find the few pixels that matter most (deletion) without "
    "ranking the rest well (insertion).")
