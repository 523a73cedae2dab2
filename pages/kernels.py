"""Filter kernels: classic kernels on the current image, the loaded model's learned filters, and the bridge."""
from cnnviz.ui.page import Page

PAGE = Page(
    "kernels",
    intro=(
        "A **kernel** (or filter) is a small table of weights. Slid over an image, at every position it multiplies the "
        "patch under it by its weights and adds the products up: the answer is large where the patch *looks like* the "
        "kernel. A Sobel kernel looks like a dark-to-bright step, so it finds edges; a Gaussian looks like a soft "
        "blob, so it averages. A convolutional network does exactly this, but it *learns* its kernels from data, and "
        "its first layer ends up with edge, colour and stripe detectors of its own. Below: classic kernels on your "
        "image, then the filters of the loaded model, then a measurement of how close the two are."
    ),
    views=("kernels.classic", "kernels.learned", "kernels.filter", "kernels.bridge", "kernels.apply",
           "kernels.training"),
)

if __name__ == "__main__":
    PAGE.show()
