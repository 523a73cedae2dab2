"""Convolution arithmetic: output size, parameters and MACs with the numbers substituted, the sliding window
animated with its dot products, a PyTorch self-check, special cases and a layer-stack quiz."""
from cnnviz.ui.page import Page

PAGE = Page(
    "arithmetic",
    intro=(
        "A convolutional layer slides a small **kernel** over its input. At each position it multiplies the "
        "kernel's weights with the input values under it, adds the products and a bias (**w·x + b**), and "
        "writes the sum into one cell of the output. How many positions there are, and so the output size, "
        "depends only on the input size *W*, the kernel size *K*, the **stride** *S* (how far the kernel jumps), "
        "the **padding** *P* (zeros added around the border) and the **dilation** *D* (gaps between kernel taps). "
        "The depth of the output is the number of filters; the parameters are the weights of those filters. "
        "Set any combination below: the page draws the layer, works out every number, animates the window, and "
        "checks itself against PyTorch."
    ),
    views=("arithmetic.numbers", "arithmetic.window", "arithmetic.check", "arithmetic.special", "arithmetic.quiz"),
)

if __name__ == "__main__":
    PAGE.show()
