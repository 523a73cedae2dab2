"""Adversarial examples: an invisible change that flips the answer; accuracy against epsilon; transfer;
robust training."""
from cnnviz.ui.page import Page

PAGE = Page(
    "adversarial",
    intro=(
        "An **adversarial example** is an input changed so little that a person sees no difference, yet the network "
        "changes its answer. **FGSM** takes one step of size ε in the sign of the loss gradient; **PGD** takes many "
        "smaller steps and projects back into the ε-ball after each. ε is measured in pixels on the 0..1 scale "
        "(L∞: the largest change of any pixel; L2: the length of the whole change), whatever normalisation the model "
        "uses. Random noise of the same size barely matters: the *direction* the gradient picks is what hurts."
    ),
    views=("adversarial.attack", "adversarial.attention", "adversarial.curve", "adversarial.transfer",
           "adversarial.robust"),
)

if __name__ == "__main__":
    PAGE.show()
