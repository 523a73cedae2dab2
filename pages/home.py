"""Home: what cnnviz is, the loaded model's card, links into every page."""
from cnnviz.ui.page import Page

PAGE = Page(
    "",
    intro=(
        "A convolutional network turns an image into a prediction through a stack of filters. "
        "cnnviz opens every step of that stack: the arithmetic of a convolution, the filters the "
        "network learned, what each layer does to *your* image, which pixels decide the answer, "
        "what excites a neuron, and how the learned features organise a data set. Pick a model and "
        "an image in the sidebar; every page works on them, and every view has a link you can share."
    ),
    views=("home.model", "home.pages"),
    heading="cnnviz: see inside a convolutional network",
)

if __name__ == "__main__":
    PAGE.show()
