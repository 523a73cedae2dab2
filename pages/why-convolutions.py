"""Why convolutions work: inductive bias, permuted pixels, handcrafted vs learned features, simple and complex cells,
vanishing gradients, degradation, random labels and auxiliary classifiers, each measured live."""
from cnnviz.ui.page import Page

PAGE = Page(
    "why-convolutions",
    intro=(
        "Why do convolutional networks work on images, and why did it take until 2012? Each view below measures one "
        "part of the answer live on the bundled digits. **Inductive bias**: a convolution assumes that nearby pixels "
        "belong together and that a pattern means the same anywhere, so it needs a tiny fraction of a dense layer's "
        "parameters, and it loses its edge when that assumption is broken (permuted pixels). **What it replaced**: "
        "handcrafted features and a linear SVM. **Where it comes from**: Hubel & Wiesel's simple and complex cells. "
        "**What made depth trainable**: the sigmoid's slope behind vanishing gradients, the degradation of deep "
        "plain networks that residual connections fix, GoogLeNet's auxiliary classifiers. And a puzzle: networks "
        "memorise random labels (Zhang et al. 2016), so capacity alone does not explain why they generalise."
    ),
    views=("why-convolutions.params", "why-convolutions.permuted", "why-convolutions.handcrafted",
           "why-convolutions.cells", "why-convolutions.sigmoid", "why-convolutions.degradation",
           "why-convolutions.random-labels", "why-convolutions.auxiliary"),
)

if __name__ == "__main__":
    PAGE.show()
