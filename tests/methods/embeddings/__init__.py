"""Tests of cnnviz.methods.embeddings, one file per module of the package."""
