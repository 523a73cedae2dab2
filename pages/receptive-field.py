"""Receptive fields: how much of the image one unit sees, in theory and in effect."""
from cnnviz.ui.page import Page

PAGE = Page(
    "receptive-field",
    intro=(
        "A unit of a convolutional layer looks at a small window of the layer below; that window looks at a window "
        "of the layer before, and so on down to the pixels. The **receptive field** of the unit is the patch of the "
        "input image that can influence it. Each layer with kernel *k* and stride *s* widens it, and strides make "
        "neighbouring units sit further apart on the image (the **jump**). Deep units see large patches; yet the "
        "pixels near the centre of the patch matter far more than those at its edge: the **effective** receptive "
        "field, measured with gradients, is much smaller than the theoretical square."
    ),
    views=("receptive-field.depth", "receptive-field.recurrence", "receptive-field.unit", "receptive-field.erf",
           "receptive-field.why"),
)

if __name__ == "__main__":
    PAGE.show()
