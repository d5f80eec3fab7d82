"""graphcl: graph and recommendation contrastive learning on PyTorch / PyG.

The entry points, imported on first use (``import graphcl`` itself loads nothing)::

    import graphcl
    graphcl.list_methods()                       # ['adameow', 'bm3', ..., 'sracl']
    graphcl.list_datasets()                      # every dataset known by name
    data = graphcl.load("ml-100k")               # a dataset by name or path
    result = graphcl.train("lightgcn", "ml-100k", config={"epochs": 5})

``graphcl.train`` is also the package of the trainer (``graphcl.train.Trainer``,
``graphcl.train.build_trainer``); calling it trains.
"""
from graphcl.lazy import lazy_exports

__version__ = "0.1.0"

__all__ = ["__version__", "train", "build_trainer", "load", "list_methods", "list_datasets",
           "get_method"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "train": "graphcl.train",  # the package, callable (see graphcl.train)
    "build_trainer": "graphcl.train",
    "load": "graphcl.data",
    "list_datasets": "graphcl.data",
    "list_methods": "graphcl.registry",
    "get_method": "graphcl.registry",
})

