"""``python -m cnnviz.train NAME`` (= ``cnnviz train NAME``): train a bundled model on the bundled data.

The classifiers of :mod:`cnnviz.methods.training` (LeNet-5, the small VGG, ...) share one recipe; the models
with a loss of their own have their own trainer, named here: ``capsnet-mnist`` (margin loss and reconstruction,
:mod:`cnnviz.methods.capsules.training`) and ``digit-detector`` (a Faster R-CNN on canvases of digits,
:mod:`cnnviz.methods.detection.training`). Every recipe is seeded and writes a safetensors file and its card
to ``assets/models``.
"""
from __future__ import annotations

import importlib
import sys

# model name -> the module whose main(argv) trains it (argv: the arguments after the name)
RECIPES = {
    "capsnet-mnist": "cnnviz.methods.capsules.training",
    "digit-detector": "cnnviz.methods.detection.training",
}


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in RECIPES:
        importlib.import_module(RECIPES[args[0]]).main(args[1:])
        return
    if not args or args[0] in ("-h", "--help"):
        print(f"models with a trainer of their own: {', '.join(RECIPES)} (`cnnviz train NAME --help`)")
    from cnnviz.methods.training import main as train_classifier

    train_classifier(args)


if __name__ == "__main__":
    main()
