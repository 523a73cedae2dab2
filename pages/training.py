"""Training: watch a CNN learn live, and the lecture's experiments on what helps it."""
from cnnviz.methods.training_runs import max_runs
from cnnviz.ui.page import Page

PAGE = Page(
    "training",
    intro=(
        "A network's filters are not designed, they are **learned**: gradient descent nudges every weight against "
        "the gradient of the loss, batch after batch. Train one here on the bundled digits or clothes and watch the "
        "loss fall, the accuracy rise and the first layer's filters turn from noise into stroke and edge detectors. "
        "The experiments show what makes training work: **skip connections and BatchNorm** against vanishing "
        "gradients in deep nets, **augmentation and dropout** against overfitting a small data set, and **transfer "
        "learning**: features learned on one data set reused on another with few labels. Runs go on in the "
        f"background while you visit other pages; this server trains at most {max_runs()} at once."
    ),
    views=("training.live", "training.vanishing", "training.overfitting", "training.transfer"),
)

if __name__ == "__main__":
    PAGE.show()
