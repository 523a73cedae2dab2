"""Augmentation effects: transforms of the input, what they do to the prediction, invariance sweeps."""
from cnnviz.ui.page import Page

PAGE = Page(
    "augmentation",
    intro=(
        "Data augmentation trains a network on randomly transformed copies of each image (flipped, rotated, "
        "shifted, recoloured, blurred, partly erased, mixed with another image, noisy) so that it learns to "
        "ignore those changes. A CNN is **not** invariant to them by construction: convolution is equivariant "
        "to shifts only up to the stride, and nothing in it makes it ignore rotation, scale or lighting. "
        "Build a pipeline below, see random samples with the model's answer on each, and sweep one "
        "transformation at a time to see how far the model's invariance really goes."
    ),
    views=("augmentation.samples", "augmentation.rotation", "augmentation.shift", "augmentation.light",
           "augmentation.six-nine", "augmentation.scramble"),
)

if __name__ == "__main__":
    PAGE.show()
