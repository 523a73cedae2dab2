"""Architecture: every layer of a model with output shape, parameters, MACs and receptive field; case studies."""
from cnnviz.ui.page import Page

PAGE = Page(
    "architecture",
    intro=(
        "A network is a stack of layers, and each layer's shape follows from the arithmetic of the one before: "
        "convolutions and pooling shrink the map and add channels, until a classifier turns the last map into "
        "class scores. The table lists every layer the model runs, in order, with its kernel, stride and padding, "
        "the shape of its output for one image, its **parameters** (weights it learns), its **multiply-accumulates** "
        "(MACs: the work for one image) and its **receptive field** (how many input pixels one of its units can see). "
        "Multi-branch models (GoogLeNet's inception blocks, ResNet's shortcuts) are listed in execution order."
    ),
    views=("architecture.table", "architecture.case-study", "architecture.depth"),
)

if __name__ == "__main__":
    PAGE.show()
