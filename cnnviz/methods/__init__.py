"""The methods: one module per family of visualization, computed with PyTorch, no figures."""
