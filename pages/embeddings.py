"""Embeddings: PCA / t-SNE / UMAP of a layer's features, the image grid, your image placed in, layers compared."""
from cnnviz.ui.page import Page

PAGE = Page(
    "embeddings",
    intro=(
        "Each image becomes a long vector at every layer: its **features**. Projected down to 2 or 3 "
        "dimensions, images the layer considers similar land close together. **PCA** keeps the directions of "
        "largest variance (a linear view); **t-SNE** and **UMAP** keep *neighbourhoods* (who is next to whom), "
        "at the cost of distorting distances between far-apart groups. Compare raw **pixels** with deeper layers: "
        "the classes that overlap in pixel space pull apart as the features become more abstract (the manifold "
        "hypothesis, made visible). The image grid below is Karpathy's *t-SNE of CNN codes*; the TensorBoard "
        "Embedding Projector is the other reference. Here everything is computed live, for any layer."
    ),
    views=("embeddings.scatter", "embeddings.grid", "embeddings.own", "embeddings.compare"),
)

if __name__ == "__main__":
    PAGE.show()
