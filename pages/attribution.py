"""Saliency and Grad-CAM: which pixels drive the prediction, by many methods, a sanity check and faithfulness."""
from cnnviz.ui.page import Page

PAGE = Page(
    "attribution",
    intro=(
        "An **attribution map** answers: which parts of *this* image made the network give *this* class its "
        "score? **Gradient** methods ask how fast the score would change if a pixel changed (saliency, "
        "SmoothGrad, Integrated Gradients). **Grad-CAM** weights a convolutional layer's feature maps by how much "
        "the class score depends on each, giving a coarse map of *where* the evidence is. **Occlusion** simply "
        "hides one patch at a time and watches the score drop. They often disagree; the **sanity check** shows which "
        "of them really depend on what the network learned, and **which map to believe** scores how faithful each is."
    ),
    views=("attribution.target", "attribution.map", "attribution.all", "attribution.sanity",
           "attribution.faithfulness"),
)

if __name__ == "__main__":
    PAGE.show()
