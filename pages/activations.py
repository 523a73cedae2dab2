"""Activation maps: the current image through every layer, channel by channel."""
from cnnviz.ui.page import Page

PAGE = Page(
    "activations",
    intro=(
        "Every convolutional layer turns its input into a stack of **feature maps**, one per filter (channel). "
        "A map is bright where the filter found its pattern. Early layers respond to edges and colours at "
        "precise positions; deeper layers to larger parts, on coarser maps with many more channels. Below, your "
        "image goes through the network once: its predictions, every channel of a layer you pick, one channel "
        "up close, the strongest maps of every stage side by side, and two images compared."
    ),
    views=("activations.predictions", "activations.channels", "activations.channel", "activations.depth",
           "activations.compare"),
)

if __name__ == "__main__":
    PAGE.show()
