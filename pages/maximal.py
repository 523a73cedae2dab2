"""Maximally activating inputs: the dataset patches that excite a channel most, and images synthesized to excite it."""
from cnnviz.ui.page import Page

PAGE = Page(
    "maximal",
    intro=(
        "What makes a channel fire? There are two ways to ask. **Dataset examples**: run many real images "
        "through the network and keep, for every channel, the images where it responded most, cropped to the "
        "part of the image the unit can actually see (its *receptive field*). **Synthesized images**: start from "
        "noise and change the image by gradient ascent, *x ← x + α·∂a/∂x*, until the channel responds as strongly "
        "as it can. Done naively this gives high-frequency noise that excites the unit without looking like "
        "anything; with the regularisers of Olah et al. (Distill, 2017), a Fourier-space image, decorrelated "
        "colours and small random jitter, scaling and rotation at every step, the picture shows the feature. "
        "OpenAI Microscope shows both for a fixed set of models; here they are computed live for the loaded one."
    ),
    views=("maximal.examples", "maximal.channels", "maximal.synthesis"),
)

if __name__ == "__main__":
    PAGE.show()
