"""``python -m cnnviz.train``: train a bundled model (see :mod:`cnnviz.methods.training`)."""
from cnnviz.methods.training import main

if __name__ == "__main__":
    main()
