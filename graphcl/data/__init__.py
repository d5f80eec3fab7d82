"""Recommendation data: the interaction dataset, readers, splits, named datasets
and negative sampling."""
from graphcl.data.interactions import DataFormatError, InteractionDataset
from graphcl.data.named import (DatasetNotFoundError, describe_datasets, download, load,
                                load_atomic_dataset, resolve_data_root)
from graphcl.data.sampling import UniformNegativeSampler, bpr_triples

__all__ = ["InteractionDataset", "DataFormatError", "DatasetNotFoundError", "load", "download",
           "describe_datasets", "resolve_data_root", "load_atomic_dataset",
           "UniformNegativeSampler", "bpr_triples"]
