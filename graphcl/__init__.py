"""graphcl: graph and recommendation contrastive learning on PyTorch / PyG."""
__version__ = "0.1.0"
