"""The network at a glance: the executed graph with live activations, and one unit computed with the real weights."""
from cnnviz.ui.page import Page

PAGE = Page(
    "network",
    intro=(
        "The whole network as torch.fx traced it, left to right: every layer your image went through, with the "
        "thumbnails of its strongest channels. Skip connections arc over the layers they skip; Inception branches "
        "run in parallel rows. **Click a node** to open its maps, **click a map** to pick one unit, and see how "
        "that single number was made from the layer before: every input channel's patch times its slice of the "
        "kernel, summed, plus the bias, through the batch norm and ReLU that follow, computed here with the "
        "network's own weights, next to the value the network produced."
    ),
    views=("network.graph", "network.node", "network.unit"),
)

if __name__ == "__main__":
    PAGE.show()
