"""Capsule networks: squashing, routing by agreement, a trained CapsNet's capsules, and the critique of pooling."""
from cnnviz.text.capsules import INTRO
from cnnviz.ui.page import Page

PAGE = Page(
    "capsules",
    intro=INTRO,
    views=("capsules.squash", "capsules.routing", "capsules.lengths", "capsules.dimensions", "capsules.robustness",
           "capsules.pooling"),
)

if __name__ == "__main__":
    PAGE.show()
